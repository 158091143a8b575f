import type { RouteSpec } from '../../platform/http/routes';
import type { AuthController } from './auth.controller';

export function authRoutes(c: AuthController): RouteSpec[] {
  return [
    { method: 'post', path: '/api/auth/register', operationId: 'register', access: 'public', handler: c.register },
    { method: 'post', path: '/api/auth/login', operationId: 'login', access: 'public', handler: c.login },
  ];
}
