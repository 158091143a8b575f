import { ADMIN_PREFIX, type Method, type RouteSpec } from '../../platform/http/routes';
import type { AdminController } from './admin.controller';

export function adminRoutes(c: AdminController): RouteSpec[] {
  const admin = (method: Method, path: string, operationId: string, handler: RouteSpec['handler']): RouteSpec => ({
    method,
    path: `${ADMIN_PREFIX}${path}`,
    operationId,
    access: 'admin',
    handler,
  });
  return [
    admin('post', '/tenants', 'adminCreateTenant', c.createTenant),
    admin('get', '/tenants', 'adminListTenants', c.listTenants),
    admin('get', '/tenants/:id', 'adminGetTenant', c.getTenant),
    admin('patch', '/tenants/:id', 'adminUpdateTenant', c.updateTenant),
    admin('delete', '/tenants/:id', 'adminDeleteTenant', c.deleteTenant),
    admin('post', '/tenants/:id/tokens', 'adminCreateToken', c.createToken),
    admin('get', '/tenants/:id/tokens', 'adminListTokens', c.listTokens),
    admin('delete', '/tenants/:id/tokens/:tokenId', 'adminRevokeToken', c.revokeToken),
  ];
}
