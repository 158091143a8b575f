import { ERROR_STATUS, type ErrorCode } from './error-codes';

export type { ErrorCode };

/** The JSON body of every error response; some codes add fields of their own (`details`). */
export interface ErrorBody {
  message: string;
  status_code: number;
  code: ErrorCode;
  [field: string]: unknown;
}

export interface AppErrorOptions {
  /** Only where a route keeps another status for compatibility (see error-codes.ts). */
  status?: number;
  /** Fields added to the body: what a client needs to act on the error (a 412's current version, say). */
  details?: Record<string, unknown>;
}

/**
 * Every error a client can cause is an AppError: a stable code from the catalogue (error-codes.ts), the HTTP
 * status that goes with it, and a message. `toAppError` maps anything else (body-parser, router, driver) onto
 * one; what it cannot map is a server fault (500) whose details are logged, never sent.
 */
export class AppError extends Error {
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds after which the client may try again: sent as Retry-After (every 503 the database causes). */
  retryAfterSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    // An AppError is an answer, not a fault: its stack is never logged, and capturing one made each 404 cost
    // more CPU than the whole database read.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.status = options.status ?? ERROR_STATUS[code];
    this.details = options.details;
  }

  toJSON(): ErrorBody {
    return { message: this.message, status_code: this.status, code: this.code, ...this.details };
  }

  static badRequest(message: string, code: ErrorCode = 'BAD_REQUEST'): AppError {
    return new AppError(code, message);
  }
  static unauthorized(message = 'unauthorized'): AppError {
    return new AppError('UNAUTHORIZED', message);
  }
}

export const quotaExceeded = (): AppError => new AppError('QUOTA_EXCEEDED', 'quota exceeded');
export const objectNotFound = (): AppError => new AppError('OBJECT_NOT_FOUND', 'object not found');
export const tenantSuspended = (): AppError => new AppError('TENANT_SUSPENDED', 'tenant suspended');
export const tenantGone = (): AppError => AppError.unauthorized('tenant no longer exists');

/** Retry-After of the 503s that retrying can fix (the database unreachable or busy). */
export const RETRY_AFTER_SECONDS = 1;

function retryLater(error: AppError, seconds = RETRY_AFTER_SECONDS): AppError {
  error.retryAfterSeconds = seconds;
  return error;
}

export const databaseUnavailable = (): AppError =>
  retryLater(new AppError('DATABASE_UNAVAILABLE', 'database unreachable'));
export const tenantReadOnly = (): AppError =>
  new AppError('READ_ONLY', 'this tenant is read-only: reads go on, writes are refused until an operator lifts it');
/** Maintenance is minutes, not seconds: a client that retries each second would only add load. */
const MAINTENANCE_RETRY_AFTER_SECONDS = 60;
export const serviceReadOnly = (): AppError =>
  retryLater(
    new AppError('SERVICE_READ_ONLY', 'the service is read-only for maintenance; writes are refused until it ends'),
    MAINTENANCE_RETRY_AFTER_SECONDS,
  );
export const busy = (message = 'the database is busy; retry shortly'): AppError =>
  retryLater(new AppError('BUSY', message));

interface HttpishError {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
  expose?: unknown;
  message?: unknown;
}

const bodyParserErrors: Record<string, [ErrorCode, string]> = {
  'entity.parse.failed': ['MALFORMED_JSON', 'request body is not valid JSON'],
  'entity.too.large': ['PAYLOAD_TOO_LARGE', 'request body is too large'],
  'entity.verify.failed': ['BAD_REQUEST', 'request body was rejected'],
  'encoding.unsupported': ['UNSUPPORTED_ENCODING', 'unsupported content encoding'],
  'charset.unsupported': ['UNSUPPORTED_CHARSET', 'unsupported charset: use utf-8'],
  'request.aborted': ['REQUEST_ABORTED', 'request aborted'],
  'request.size.invalid': ['BAD_REQUEST', 'request size did not match content length'],
  'stream.encoding.set': ['INTERNAL', 'internal error'],
};

/**
 * Turns anything thrown into an AppError; `fault` is true when it is the server's own failure. `fromDatabase`
 * answers for the database's errors that are no fault of the service (platform/db/db-errors.ts).
 */
export function toAppError(
  err: unknown,
  fromDatabase: (err: unknown) => AppError | undefined = () => undefined,
): { error: AppError; fault: boolean } {
  // An AppError is an answer the service chose (a 503 included), never a fault to log.
  if (err instanceof AppError) return { error: err, fault: false };
  const database = fromDatabase(err);
  if (database) return { error: database, fault: false };
  const e = (err ?? {}) as HttpishError;
  // Own keys only: `in` would also find Object.prototype members ('toString', 'constructor'…), which are not
  // [code, message] pairs, and the error handler itself would throw.
  if (typeof e.type === 'string' && Object.hasOwn(bodyParserErrors, e.type)) {
    const [code, message] = bodyParserErrors[e.type];
    return { error: new AppError(code, message), fault: ERROR_STATUS[code] >= 500 };
  }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const message = e.expose === true && typeof e.message === 'string' ? e.message : 'bad request';
    return { error: new AppError(status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message, { status }), fault: false };
  }
  return { error: new AppError('INTERNAL', 'internal server error'), fault: true };
}
