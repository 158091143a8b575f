/**
 * The service's errors as classes, one per family of its stable `code` (docs/API.md lists the codes): callers
 * catch `QuotaExceededError` or `NotFoundError` instead of comparing strings, and `code` still tells the exact
 * case. A code the client does not know yet falls back to its status's class, then to TenantKvError.
 */
export interface ErrorBody {
  message: string;
  status_code: number;
  code: string;
  [field: string]: unknown;
}

export class TenantKvError extends Error {
  /** The HTTP status (0 for a network failure, where no answer came). */
  readonly status: number;
  /** The service's stable code, e.g. QUOTA_EXCEEDED; `HTTP_<status>` when the answer was not the service's JSON. */
  readonly code: string;
  readonly headers: Headers;
  /** The error's JSON as the service sent it. */
  readonly body: ErrorBody;
  /** How many times the request was sent before this error was given up on. */
  attempts = 1;

  constructor(body: ErrorBody, headers: Headers = new Headers(), options?: { cause?: unknown }) {
    super(body.message, options);
    this.name = new.target.name;
    this.status = body.status_code;
    this.code = body.code;
    this.headers = headers;
    this.body = body;
  }
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const raw = headers.get('retry-after');
  if (raw === null || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** No answer came: the connection failed, was cut, or timed out. `cause` is what fetch threw. */
export class NetworkError extends TenantKvError {
  constructor(message: string, cause: unknown) {
    super({ message, status_code: 0, code: 'NETWORK_ERROR' }, new Headers(), { cause });
  }
}

/** 400: the request is wrong and will stay wrong (VALIDATION_FAILED, INVALID_KEY, VALUE_TOO_LARGE…). */
export class BadRequestError extends TenantKvError {}
/** 401: a missing, invalid, expired or revoked token, a deleted tenant, a wrong admin key. */
export class UnauthorizedError extends TenantKvError {}
/** 403: who asks is known and may not do this (TENANT_SUSPENDED, INSUFFICIENT_SCOPE, ADMIN_KEY_REQUIRED…). */
export class ForbiddenError extends TenantKvError {}
/** 403 QUOTA_EXCEEDED: nothing was written. */
export class QuotaExceededError extends ForbiddenError {}
/** 403 READ_ONLY: an operator put the tenant in read-only mode; reads go on. */
export class ReadOnlyError extends ForbiddenError {}
/** 404: OBJECT_NOT_FOUND, TENANT_NOT_FOUND, TOKEN_NOT_FOUND, ROUTE_NOT_FOUND. */
export class NotFoundError extends TenantKvError {}
/** 409 USER_EXISTS. */
export class ConflictError extends TenantKvError {}
/** 413 PAYLOAD_TOO_LARGE. */
export class PayloadTooLargeError extends TenantKvError {}

/** 412: the precondition did not hold and nothing was written. */
export class PreconditionFailedError extends TenantKvError {
  /** The key's version now, null when it is absent (single-key writes). */
  readonly currentVersion: number | null;
  /** Every item that failed (batches). */
  readonly failed: { key: string; current_version: number | null }[];

  constructor(body: ErrorBody, headers?: Headers) {
    super(body, headers);
    this.currentVersion = typeof body.current_version === 'number' ? body.current_version : null;
    this.failed = Array.isArray(body.failed) ? (body.failed as PreconditionFailedError['failed']) : [];
  }
}

/** 410 REVISION_COMPACTED: the feed no longer keeps that revision; list again, then watch from `oldestRevision`. */
export class RevisionCompactedError extends TenantKvError {
  readonly oldestRevision: number;

  constructor(body: ErrorBody, headers?: Headers) {
    super(body, headers);
    this.oldestRevision = Number(body.oldest_revision);
  }
}

/** 429: RATE_LIMITED (the tenant's request rate, or failed logins), TOO_MANY_WATCHERS. */
export class RateLimitedError extends TenantKvError {
  /** Seconds to wait, from Retry-After. */
  readonly retryAfter: number | undefined;

  constructor(body: ErrorBody, headers: Headers = new Headers()) {
    super(body, headers);
    this.retryAfter = retryAfterSeconds(headers);
  }
}

/** 503: DATABASE_UNAVAILABLE, BUSY, SERVICE_READ_ONLY (retry after `retryAfter`), ADMIN_DISABLED. */
export class UnavailableError extends TenantKvError {
  readonly retryAfter: number | undefined;

  constructor(body: ErrorBody, headers: Headers = new Headers()) {
    super(body, headers);
    this.retryAfter = retryAfterSeconds(headers);
  }
}

type ErrorClass = new (body: ErrorBody, headers?: Headers) => TenantKvError;

/**
 * Every code the service sends (src/platform/error-codes.ts; a unit test keeps the two lists equal) and its class.
 */
export const ERROR_CLASSES = {
  BAD_REQUEST: BadRequestError,
  VALIDATION_FAILED: BadRequestError,
  MALFORMED_JSON: BadRequestError,
  REQUEST_ABORTED: BadRequestError,
  INVALID_KEY: BadRequestError,
  INVALID_VALUE: BadRequestError,
  INVALID_TTL: BadRequestError,
  VALUE_TOO_LARGE: BadRequestError,
  VALUE_TOO_DEEP: BadRequestError,
  METADATA_TOO_LARGE: BadRequestError,
  INVALID_PRECONDITION: BadRequestError,
  BATCH_TOO_MANY_ITEMS: BadRequestError,
  BATCH_TOO_LARGE: BadRequestError,
  BATCH_DUPLICATE_KEY: BadRequestError,
  INVALID_CAPACITY: BadRequestError,
  INVALID_CREDENTIALS: BadRequestError,
  INVALID_CURSOR: BadRequestError,
  UNAUTHORIZED: UnauthorizedError,
  QUOTA_EXCEEDED: QuotaExceededError,
  TENANT_SUSPENDED: ForbiddenError,
  READ_ONLY: ReadOnlyError,
  INSUFFICIENT_SCOPE: ForbiddenError,
  ADMIN_KEY_REQUIRED: ForbiddenError,
  REGISTRATION_DISABLED: ForbiddenError,
  NOT_FOUND: NotFoundError,
  ROUTE_NOT_FOUND: NotFoundError,
  OBJECT_NOT_FOUND: NotFoundError,
  TENANT_NOT_FOUND: NotFoundError,
  TOKEN_NOT_FOUND: NotFoundError,
  METHOD_NOT_ALLOWED: TenantKvError,
  NOT_ACCEPTABLE: TenantKvError,
  USER_EXISTS: ConflictError,
  PRECONDITION_FAILED: PreconditionFailedError,
  REVISION_COMPACTED: RevisionCompactedError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  UNSUPPORTED_MEDIA_TYPE: TenantKvError,
  UNSUPPORTED_ENCODING: TenantKvError,
  UNSUPPORTED_CHARSET: TenantKvError,
  TOO_MANY_WATCHERS: RateLimitedError,
  RATE_LIMITED: RateLimitedError,
  INTERNAL: TenantKvError,
  ADMIN_DISABLED: UnavailableError,
  DATABASE_UNAVAILABLE: UnavailableError,
  BUSY: UnavailableError,
  SERVICE_READ_ONLY: UnavailableError,
} satisfies Record<string, ErrorClass>;

export type ErrorCode = keyof typeof ERROR_CLASSES;

const BY_STATUS: Record<number, ErrorClass> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  410: RevisionCompactedError,
  412: PreconditionFailedError,
  413: PayloadTooLargeError,
  429: RateLimitedError,
  503: UnavailableError,
};

/** The error for an answer of `status` whose body is `text` (the service's JSON error, or anything a proxy sent). */
export function errorFromResponse(status: number, headers: Headers, text: string): TenantKvError {
  let body: ErrorBody = { message: text.trim() || `HTTP ${status}`, status_code: status, code: `HTTP_${status}` };
  try {
    const parsed = JSON.parse(text) as Partial<ErrorBody>;
    if (parsed && typeof parsed.code === 'string' && typeof parsed.message === 'string') {
      body = { ...parsed, message: parsed.message, code: parsed.code, status_code: status };
    }
  } catch {
    // Not the service's JSON (a HEAD, a proxy's page): the status decides.
  }
  const Class: ErrorClass =
    (ERROR_CLASSES as Record<string, ErrorClass>)[body.code] ?? BY_STATUS[status] ?? TenantKvError;
  return new Class(body, headers);
}
