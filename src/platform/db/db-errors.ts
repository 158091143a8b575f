import { AppError, busy, databaseUnavailable } from '../errors';
import { StatementTooLargeError, type Dialect } from './dialect';

/**
 * The one place where what the database said becomes what the client is told: the database unreachable or busy
 * is a 503 with Retry-After (retrying later can succeed); a statement larger than the server accepts is a 413
 * that names the server's limit. Anything else is undefined here, and a fault (500) to the error handler.
 */
export function databaseAnswer(dialect: Dialect, err: unknown): AppError | undefined {
  switch (dialect.classify(err)) {
    case 'unavailable':
    case 'tls':
      return databaseUnavailable();
    case 'busy':
      return busy();
    case 'packet_too_large': {
      const limit = err instanceof StatementTooLargeError ? err.limitBytes : undefined;
      return new AppError(
        'PAYLOAD_TOO_LARGE',
        `this request is larger than the database accepts in one statement` +
          (limit === undefined ? '' : ` (${limit} bytes)`) +
          `: send fewer or smaller items, or have the operator raise the server's max_allowed_packet`,
      );
    }
    default:
      return undefined;
  }
}
