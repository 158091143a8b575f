import type { RouteSpec } from '../../platform/http/routes';
import type { HealthController } from './health.controller';

export function healthRoutes(c: HealthController): RouteSpec[] {
  return [
    { method: 'get', path: '/healthz', operationId: 'healthz', access: 'public', handler: c.healthz },
    { method: 'get', path: '/readyz', operationId: 'readyz', access: 'public', handler: c.readyz },
  ];
}
