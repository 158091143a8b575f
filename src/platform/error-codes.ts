/**
 * Every error code the service can send, with the HTTP status it goes with. A code is a stable, machine-readable
 * name that clients may switch on; the message next to it in a response is for people and may change.
 */
export const ERROR_STATUS = {
  // 400: the request is wrong and will stay wrong.
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  REQUEST_ABORTED: 400,
  INVALID_KEY: 400,
  INVALID_VALUE: 400,
  INVALID_TTL: 400,
  VALUE_TOO_LARGE: 400,
  VALUE_TOO_DEEP: 400,
  METADATA_TOO_LARGE: 400,
  INVALID_PRECONDITION: 400,
  BATCH_TOO_MANY_ITEMS: 400,
  BATCH_TOO_LARGE: 400,
  BATCH_DUPLICATE_KEY: 400,
  INVALID_CAPACITY: 400,
  INVALID_CREDENTIALS: 400,
  INVALID_CURSOR: 400,
  // 401: who is asking is not known (a missing, invalid, expired or revoked credential).
  UNAUTHORIZED: 401,
  // 403: who is asking is known and may not do this.
  QUOTA_EXCEEDED: 403,
  TENANT_SUSPENDED: 403,
  // An operator put the tenant in read-only mode: reads go on, writes wait until it is lifted.
  READ_ONLY: 403,
  INSUFFICIENT_SCOPE: 403,
  ADMIN_KEY_REQUIRED: 403,
  REGISTRATION_DISABLED: 403,
  // 404
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  OBJECT_NOT_FOUND: 404,
  TENANT_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  // 409: the name is taken. Self-registration answers it with 400, as the Go service did.
  USER_EXISTS: 409,
  // 412: the If-Match / If-None-Match (or a batch item's if_version / if_absent) did not hold; nothing was written.
  PRECONDITION_FAILED: 412,
  // 410: the change feed no longer keeps changes that old; re-list, then follow from `oldest_revision`.
  REVISION_COMPACTED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNSUPPORTED_ENCODING: 415,
  UNSUPPORTED_CHARSET: 415,
  TOO_MANY_WATCHERS: 429,
  RATE_LIMITED: 429,
  // 5xx: the service's side.
  INTERNAL: 500,
  ADMIN_DISABLED: 503,
  // The database cannot be reached, or cannot take the work now (locks held past the budget, connections used
  // up, conflicts that outlast the retries): both answer with Retry-After, and retrying later can succeed.
  DATABASE_UNAVAILABLE: 503,
  BUSY: 503,
  // The instance is in maintenance (READ_ONLY=true): writes come back when it ends.
  SERVICE_READ_ONLY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
