/**
 * @tenantkv/client: a typed client of tenantkv for Node ≥ 20 and browsers, fetch only. `TenantKv` for a
 * tenant's applications, `TenantKvAdmin` for operators; README.md has the tour.
 */
export { TenantKv, type TenantKvOptions } from './tenant.js';
export {
  TenantKvAdmin,
  TenantsApi,
  TokensApi,
  AuditApi,
  type TenantKvAdminOptions,
  type TenantListOptions,
  type AuditOptions,
} from './admin.js';
export { Watch } from './watch.js';
export type { ClientOptions, FetchLike } from './http.js';
export {
  TenantKvError,
  NetworkError,
  BadRequestError,
  UnauthorizedError,
  ForbiddenError,
  QuotaExceededError,
  ReadOnlyError,
  NotFoundError,
  ConflictError,
  PayloadTooLargeError,
  PreconditionFailedError,
  RevisionCompactedError,
  RateLimitedError,
  UnavailableError,
  ERROR_CLASSES,
  type ErrorCode,
  type ErrorBody,
} from './errors.js';
export type * from './types.js';
export type { paths, components, operations } from './api.js';
