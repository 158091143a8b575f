export { AdminService } from './admin.service';
export { AdminController } from './admin.controller';
export { adminRoutes } from './admin.routes';
