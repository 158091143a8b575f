export {
  TenantRepository,
  type AccessState,
  type NewTenant,
  type OperatingLimits,
  type TenantChanges,
  type TenantCredentials,
  type TenantRecord,
} from './tenants.repository';
export { ApiTokenRepository, type ApiTokenRecord } from './api-tokens.repository';
