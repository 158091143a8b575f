export { HealthController } from './health.controller';
export { healthRoutes } from './health.routes';
