import { databaseAnswer } from '../../../src/platform/db/db-errors';
import { mysqlDialect } from '../../../src/platform/db/dialect/mysql';
import { sqliteDialect } from '../../../src/platform/db/dialect/sqlite';
import { StatementTooLargeError } from '../../../src/platform/db/dialect';
import { toAppError } from '../../../src/platform/errors';

const err = (code: string, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(code), { code, ...extra });

describe('what the database says, as the client is told it', () => {
  it.each([
    ['ECONNREFUSED', 'DATABASE_UNAVAILABLE'],
    ['ECONNRESET', 'DATABASE_UNAVAILABLE'],
    ['ETIMEDOUT', 'DATABASE_UNAVAILABLE'],
    ['PROTOCOL_CONNECTION_LOST', 'DATABASE_UNAVAILABLE'],
    ['ER_SERVER_SHUTDOWN', 'DATABASE_UNAVAILABLE'],
    ['ER_CONNECTION_KILLED', 'DATABASE_UNAVAILABLE'],
    ['ER_UNKNOWN_COM_ERROR', 'DATABASE_UNAVAILABLE'],
    ['ER_CON_COUNT_ERROR', 'BUSY'],
    ['ER_TOO_MANY_USER_CONNECTIONS', 'BUSY'],
    ['ER_LOCK_WAIT_TIMEOUT', 'BUSY'],
  ])('MySQL %s is 503 %s with Retry-After', (code, answer) => {
    expect(databaseAnswer(mysqlDialect, err(code))).toMatchObject({ code: answer, status: 503, retryAfterSeconds: 1 });
  });

  it('a fatal mysql2 error without a known code (the connection closed under it) is 503 DATABASE_UNAVAILABLE', () => {
    const closed = Object.assign(new Error("Can't add new command when connection is in closed state"), {
      fatal: true,
    });
    expect(databaseAnswer(mysqlDialect, closed)).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
  });

  it('no pooled connection in time is 503 BUSY, on both dialects', () => {
    const timeout = Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' });
    for (const dialect of [mysqlDialect, sqliteDialect]) {
      expect(databaseAnswer(dialect, timeout)).toMatchObject({ code: 'BUSY', status: 503, retryAfterSeconds: 1 });
    }
  });

  it('SQLite busy past its timeout is 503 BUSY', () => {
    expect(databaseAnswer(sqliteDialect, err('SQLITE_BUSY'))).toMatchObject({ code: 'BUSY', status: 503 });
  });

  it('a statement past max_allowed_packet is 413 naming the limit', () => {
    const answer = databaseAnswer(mysqlDialect, new StatementTooLargeError(5_000_000, 1_048_576));
    expect(answer).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    expect(answer?.message).toContain('1048576 bytes');
    expect(answer?.message).toContain('max_allowed_packet');
    expect(answer?.retryAfterSeconds).toBeUndefined();
  });

  it.each([['ER_DUP_ENTRY'], ['ER_NO_SUCH_TABLE'], ['ER_PARSE_ERROR'], ['ER_BAD_DB_ERROR']])(
    '%s stays a fault (500): retrying will not fix it',
    (code) => {
      expect(databaseAnswer(mysqlDialect, err(code))).toBeUndefined();
      const { error, fault } = toAppError(err(code), (e) => databaseAnswer(mysqlDialect, e));
      expect({ status: error.status, code: error.code, fault }).toEqual({ status: 500, code: 'INTERNAL', fault: true });
    },
  );

  it('a deadlock is retried, not answered (retry.ts turns an exhausted budget into BUSY)', () => {
    expect(mysqlDialect.classify(err('ER_LOCK_DEADLOCK'))).toBe('retryable');
    expect(databaseAnswer(mysqlDialect, err('ER_LOCK_DEADLOCK'))).toBeUndefined();
  });
});
