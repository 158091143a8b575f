import type { DbErrorKind } from './index';

/**
 * A statement refused before it was sent because the server would refuse it (MySQL max_allowed_packet): the
 * server answers such a packet by closing the connection, and the client would only see it reset.
 */
export class StatementTooLargeError extends Error {
  readonly code = 'TENANTKV_STATEMENT_TOO_LARGE';

  constructor(
    /** About how many bytes the statement needs on the wire (undefined when the server refused it). */
    readonly bytes: number | undefined,
    /** The most the server accepts (undefined when the server said so without the number). */
    readonly limitBytes: number | undefined,
  ) {
    super(
      `the statement ${bytes === undefined ? 'is larger than' : `needs about ${bytes} bytes;`} the database ` +
        `accepts ${limitBytes === undefined ? 'less' : `${limitBytes} bytes`} (max_allowed_packet)`,
    );
    this.name = 'StatementTooLargeError';
  }
}

/** What both dialects' errors can mean because both run on knex's pool and on sockets. */
export function classifyCommon(err: unknown): DbErrorKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  if (err instanceof StatementTooLargeError) return 'packet_too_large';
  // No pooled connection became free within acquireConnectionTimeout.
  if ((err as Error).name === 'KnexTimeoutError') return 'busy';
  // knex after destroy(): the pool is gone (a process shutting down).
  if ((err as Error).message === 'Unable to acquire a connection') return 'unavailable';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && SOCKET_ERRORS.has(code)) return 'unavailable';
  return undefined;
}

const SOCKET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
