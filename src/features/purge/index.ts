export { PURGE_LEASE, PurgeService, leaseMs, type PurgeMode } from './purge.service';
export { PurgeRepository } from './purge.repository';
export { PURGE_PROCEDURE_NAME } from './purge-procedure';
