import type { RouteSpec } from '../../platform/http/routes';
import type { MetricsController } from './metrics.controller';

export function metricsRoutes(c: MetricsController): RouteSpec[] {
  return [{ method: 'get', path: '/metrics', operationId: 'metrics', access: 'admin', handler: c.metrics }];
}
