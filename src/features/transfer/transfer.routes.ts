import { ADMIN_PREFIX, type RouteSpec } from '../../platform/http/routes';
import type { TransferController } from './transfer.controller';

export function transferRoutes(c: TransferController): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api/export',
      operationId: 'exportObjects',
      access: { scope: 'read' },
      handler: c.exportObjects,
    },
    // Its body is NDJSON, not application/json: nothing validates it whole, for it is streamed, never parsed whole
    // (nor limited in size); each line is checked as it is read.
    {
      method: 'post',
      path: '/api/import',
      operationId: 'importObjects',
      access: { scope: 'write' },
      handler: c.importObjects,
    },
    {
      method: 'get',
      path: `${ADMIN_PREFIX}/tenants/:id/export`,
      operationId: 'adminExportTenant',
      access: 'admin',
      handler: c.adminExport,
    },
  ];
}
