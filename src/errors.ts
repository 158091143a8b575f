/**
 * Every error a client can cause is an AppError: an HTTP status, a stable machine-readable code and a
 * message. `toAppError` maps anything else (body-parser, router, driver) onto one; what it cannot map is a
 * server fault (500) whose details are logged, never sent.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    // An AppError is an answer, not a fault: its stack is never logged, and capturing one made each 404 cost
    // more CPU than the whole database read.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
  }

  toJSON(): { message: string; status_code: number; code: string } {
    return { message: this.message, status_code: this.status, code: this.code };
  }

  static badRequest(message: string, code = 'BAD_REQUEST'): AppError {
    return new AppError(400, code, message);
  }
  static unauthorized(message = 'unauthorized'): AppError {
    return new AppError(401, 'UNAUTHORIZED', message);
  }
  static forbidden(message: string, code = 'FORBIDDEN'): AppError {
    return new AppError(403, code, message);
  }
  static notFound(message: string, code = 'NOT_FOUND'): AppError {
    return new AppError(404, code, message);
  }
}

export const quotaExceeded = (): AppError => new AppError(403, 'QUOTA_EXCEEDED', 'quota exceeded');
export const objectNotFound = (): AppError => new AppError(404, 'OBJECT_NOT_FOUND', 'object not found');
export const tenantSuspended = (): AppError => new AppError(403, 'TENANT_SUSPENDED', 'tenant suspended');

interface HttpishError {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
  expose?: unknown;
  message?: unknown;
}

const bodyParserErrors: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'MALFORMED_JSON', 'request body is not valid JSON'],
  'entity.too.large': [413, 'PAYLOAD_TOO_LARGE', 'request body is too large'],
  'entity.verify.failed': [400, 'BAD_REQUEST', 'request body was rejected'],
  'encoding.unsupported': [415, 'UNSUPPORTED_ENCODING', 'unsupported content encoding'],
  'charset.unsupported': [415, 'UNSUPPORTED_CHARSET', 'unsupported charset: use utf-8'],
  'request.aborted': [400, 'REQUEST_ABORTED', 'request aborted'],
  'request.size.invalid': [400, 'BAD_REQUEST', 'request size did not match content length'],
  'stream.encoding.set': [500, 'INTERNAL', 'internal error'],
};

/** Turns anything thrown into an AppError; `fault` is true when it is the server's own failure. */
export function toAppError(err: unknown): { error: AppError; fault: boolean } {
  // An AppError is an answer the service chose (a 503 included), never a fault to log.
  if (err instanceof AppError) return { error: err, fault: false };
  const e = (err ?? {}) as HttpishError;
  // Own keys only: `in` would also find Object.prototype members ('toString', 'constructor'…), which are not
  // [status, code, message] triples, and the error handler itself would throw.
  if (typeof e.type === 'string' && Object.hasOwn(bodyParserErrors, e.type)) {
    const [status, code, message] = bodyParserErrors[e.type];
    return { error: new AppError(status, code, message), fault: status >= 500 };
  }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const message = e.expose === true && typeof e.message === 'string' ? e.message : 'bad request';
    return { error: new AppError(status, status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message), fault: false };
  }
  return { error: new AppError(500, 'INTERNAL', 'internal server error'), fault: true };
}
