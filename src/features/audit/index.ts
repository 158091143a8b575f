export { AuditRepository } from './audit.repository';
export { AuditService, type AuditAction, type AuditActor, type AuditEvent } from './audit.service';
export { entryHash, type AuditEntry, type AuditFields } from './audit-chain';
export { AuthFailureLog } from './auth-failures';
export { AuditController } from './audit.controller';
export { auditRoutes } from './audit.routes';
