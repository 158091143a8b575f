export { MetricsController } from './metrics.controller';
export { metricsRoutes } from './metrics.routes';
