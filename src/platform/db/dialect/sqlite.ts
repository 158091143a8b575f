import fs from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import type { Database, Statement } from 'better-sqlite3';
import type { Connection, DbErrorKind, Dialect, Row } from './index';
import { classifyCommon } from './errors';

/** SQLite refuses more than this many bound parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER). */
const MAX_VARIABLES = 32_766;

/** Statements prepared once per connection and kept, up to a bound, so the hot ones are never parsed again. */
const STATEMENT_CACHE = 256;
const statements = new WeakMap<Database, Map<string, Statement>>();

function prepared(conn: Connection, sql: string): Statement {
  const db = conn as Database;
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let statement = cache.get(sql);
  if (!statement) {
    if (cache.size >= STATEMENT_CACHE) cache.clear();
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}

/** better-sqlite3 binds numbers, strings, bigints, Buffers and null; booleans are stored as 0 and 1. */
function bindable(bindings: readonly unknown[]): unknown[] {
  return bindings.map((b) => (typeof b === 'boolean' ? Number(b) : b instanceof Date ? b.getTime() : b));
}

function errorKind(err: unknown): DbErrorKind | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  // Another process held the database for the whole busy timeout (DB_LOCK_WAIT_TIMEOUT_SECONDS).
  if (code === 'SQLITE_BUSY') return 'busy';
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'duplicate_key';
  return classifyCommon(err);
}

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  knexConfig(config) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    return {
      client: 'better-sqlite3',
      connection: { filename: path.join(config.dataDir, 'tenantkv.sqlite') },
      useNullAsDefault: true,
      // One connection: SQLite has one writer at a time, and a single connection makes every transaction
      // run alone, which is what the ledger needs.
      acquireConnectionTimeout: config.dbAcquireTimeoutMs,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: Database, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma(`busy_timeout = ${Math.trunc(config.dbLockWaitTimeoutSeconds * 1000)}`);
          done(null, conn);
        },
      },
    };
  },
  builder: knex({ client: 'better-sqlite3', useNullAsDefault: true }),
  forUpdate: '',
  byteLength: (column) => `length(CAST(${column} AS BLOB))`,
  maxBindings: MAX_VARIABLES,
  hasEvents: false,
  hasProcedures: false,

  select: async (conn, sql, bindings) => prepared(conn, sql).all(...bindable(bindings)) as Row[],
  async execute(conn, sql, bindings) {
    const result = prepared(conn, sql).run(...bindable(bindings));
    return { affectedRows: result.changes, insertId: Number(result.lastInsertRowid) };
  },
  call: () => Promise.reject(new Error('SQLite has no stored procedures')),
  // IMMEDIATE takes the write lock at the start, so a transaction never fails half-way to upgrade it.
  begin: async (conn) => void prepared(conn, 'BEGIN IMMEDIATE').run(),
  commit: async (conn) => void prepared(conn, 'COMMIT').run(),
  rollback: async (conn) => {
    if ((conn as Database).inTransaction) prepared(conn, 'ROLLBACK').run();
  },
  async insert(conn, table, rows, onConflict) {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]);
    // SQLite bounds the parameters of one statement: a large batch takes several, in the caller's transaction.
    const perStatement = Math.max(1, Math.floor(MAX_VARIABLES / columns.length));
    for (let i = 0; i < rows.length; i += perStatement) {
      const slice = rows.slice(i, i + perStatement);
      const sql =
        `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ` +
        slice.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ') +
        (onConflict
          ? ` ON CONFLICT (${onConflict.key.map((c) => `"${c}"`).join(', ')}) DO UPDATE SET ` +
            onConflict.update.map((c) => `"${c}" = excluded."${c}"`).join(', ')
          : '');
      // Each size of slice is a distinct statement: prepare it without filling the cache of the hot ones.
      (conn as Database).prepare(sql).run(...bindable(slice.flatMap((row) => columns.map((c) => row[c]))));
    }
  },
  classify: errorKind,
  keyText: (value) => String(value),
  // The embedded database serves one process (WEB_CONCURRENCY is 1), so there is nobody to exclude.
  withNamedLock: (_pool, _name, work) => work(),
  existingRoutines: async () => new Set(),
  // One process owns the file (WEB_CONCURRENCY is 1): no other starter to race.
  prepareMigrations: async () => undefined,
  eventInfo: async () => ({ schedulerOn: false }),
  inspect: async () => ({ galera: false, maxStatementBytes: undefined, tls: undefined }),
};
