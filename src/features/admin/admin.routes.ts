import type { RequestHandler } from 'express';
import type { Method, RouteSpec } from '../../platform/http/routes';
import type { AdminController } from './admin.controller';

export function adminRoutes(c: AdminController, adminAuth: RequestHandler): RouteSpec[] {
  const admin = (method: Method, path: string, operationId: string, handler: RouteSpec['handler']): RouteSpec => ({
    method,
    path: `/api/admin${path}`,
    operationId,
    guard: adminAuth,
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
