import type { RouteSpec } from '../../platform/http/routes';
import type { QuotaController } from './quota.controller';

export function quotaRoutes(c: QuotaController): RouteSpec[] {
  return [{ method: 'get', path: '/api/quota', operationId: 'getQuota', access: { scope: 'read' }, handler: c.quota }];
}
