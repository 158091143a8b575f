import { ADMIN_PREFIX, type RouteSpec } from '../../platform/http/routes';
import type { AuditController } from './audit.controller';

export function auditRoutes(c: AuditController): RouteSpec[] {
  return [
    { method: 'get', path: `${ADMIN_PREFIX}/audit`, operationId: 'adminAuditLog', access: 'admin', handler: c.page },
    {
      method: 'get',
      path: `${ADMIN_PREFIX}/audit/verify`,
      operationId: 'adminVerifyAuditLog',
      access: 'admin',
      handler: c.verify,
    },
  ];
}
