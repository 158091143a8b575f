export { ledgerAllows, type Ledger } from './quota-rules';
export { LedgerRepository, LEDGER_SQL, type LedgerChange, type LockedTenant, type Quota } from './ledger.repository';
export { QuotaController } from './quota.controller';
export { quotaRoutes } from './quota.routes';
