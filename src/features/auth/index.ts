export { AuthService, type LoginGuard } from './auth.service';
export { AuthController } from './auth.controller';
export { authRoutes } from './auth.routes';
export { createAdminAuth, keyFingerprint, type AdminAuthFailure } from './admin-auth';
export { createTenantAuth, tokenFromRequest } from './tenant-auth';
export { TenantAccess } from './tenant-access';
export { TokenService, LOGIN_SCOPES } from './token-service';
export { hashPassword } from './password';
export { resolveJwtSecret } from './jwt-secret';
