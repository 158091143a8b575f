import type { RouteSpec } from './platform/http/routes';
import { authRoutes, type AuthController } from './features/auth';
import { objectRoutes, type ObjectController } from './features/objects';
import { quotaRoutes, type QuotaController } from './features/quota';
import { healthRoutes, type HealthController } from './features/health';
import { adminRoutes, type AdminController } from './features/admin';
import { auditRoutes, type AuditController } from './features/audit';
import { changesRoutes, type ChangesController } from './features/changes';
import { metricsRoutes, type MetricsController } from './features/metrics';
import { transferRoutes, type TransferController } from './features/transfer';

export interface Controllers {
  auth: AuthController;
  objects: ObjectController;
  quota: QuotaController;
  changes: ChangesController;
  health: HealthController;
  admin: AdminController;
  audit: AuditController;
  metrics: MetricsController;
  transfer: TransferController;
}

/** Every route of the service, feature by feature, in one table. A test checks it against swagger.yaml. */
export function routeTable(c: Controllers): RouteSpec[] {
  return [
    ...authRoutes(c.auth),
    ...objectRoutes(c.objects),
    ...quotaRoutes(c.quota),
    ...changesRoutes(c.changes),
    ...healthRoutes(c.health),
    ...adminRoutes(c.admin),
    ...auditRoutes(c.audit),
    ...metricsRoutes(c.metrics),
    ...transferRoutes(c.transfer),
  ];
}
