import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../config';

/**
 * The only file that knows MySQL/MariaDB from SQLite. Everything else asks the dialect for the piece of SQL
 * or the connection setting that differs.
 */
export interface Dialect {
  name: 'mysql' | 'sqlite';
  knexConfig(config: Config): Knex.Config;
  /** Suffix of a locking read: FOR UPDATE where rows can be locked, nothing where the database is locked whole. */
  forUpdate: string;
  /** SQL for the byte length of a stored value column. */
  byteLength(column: string): string;
  /** How many bound parameters one statement may carry. */
  maxBindings: number;
  /**
   * Creates or replaces `rows` of `table` (every row with the same columns) in the caller's transaction,
   * updating the `merge` columns where a row's `key` exists already.
   */
  upsert(
    trx: Knex.Transaction,
    table: string,
    rows: Record<string, unknown>[],
    key: string[],
    merge: string[],
  ): Promise<void>;
  /** True when the error is a deadlock or lock wait timeout that a retried transaction can resolve. */
  isRetryable(err: unknown): boolean;
  /** Stored procedures: the hot writes can be one round trip each (see the write-procedures migration). */
  hasProcedures: boolean;
  /** The database can run the purge itself on a schedule (MySQL EVENT). */
  hasEvents: boolean;
  /**
   * Runs `work` only if this process gets the named lock, so that several instances do not purge at once;
   * resolves to undefined when another holds it.
   */
  withNamedLock<T>(knex: Knex, name: string, work: () => Promise<T>): Promise<T | undefined>;
  /** The rows of a knex.raw SELECT: mysql2 resolves to [rows, fields], better-sqlite3 to rows. */
  rowsOf(result: unknown): Record<string, unknown>[];
  /**
   * Runs one constant statement on a pooled connection and resolves to its rows (a CALL: its result sets),
   * skipping the query builder's runner, for the statements every request makes.
   */
  run(knex: Knex, sql: string, bindings: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** True when the error says the row breaks a unique constraint. */
  isDuplicateKey(err: unknown): boolean;
}

type MysqlCallback = (err: Error | null, rows: Record<string, unknown>[]) => void;

/** The part of a mysql2 connection used here: text-protocol queries and prepared statements. */
interface MysqlConnection {
  query(sql: string, bindings: readonly unknown[], callback: MysqlCallback): void;
  execute(sql: string, bindings: readonly unknown[], callback: MysqlCallback): void;
}

/** MySQL refuses a prepared statement with more placeholders than this. */
const MAX_PREPARED_PLACEHOLDERS = 65_535;

/** Prepared statements each connection keeps open: batches of many sizes must not exhaust the server's limit. */
const PREPARED_PER_CONNECTION = 16;

const quoteMysql = (name: string): string => `\`${name}\``;

/** Sends one statement on a mysql2 connection, as a text query or a prepared statement. */
function send(
  conn: MysqlConnection,
  method: 'query' | 'execute',
  sql: string,
  bindings: readonly unknown[],
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    conn[method](sql, bindings, (err, rows) => (err ? reject(err) : resolve(rows)));
  });
}

/** SQLite refuses more than 500 terms in one compound SELECT (SQLITE_MAX_COMPOUND_SELECT). */
const SQLITE_ROWS_PER_INSERT = 500;

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function parseMysqlUrl(url: string): Knex.MySql2ConnectionConfig {
  const u = new URL(url.replace(/^mariadb:/, 'mysql:'));
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
}

export const mysqlDialect: Dialect = {
  name: 'mysql',
  knexConfig(config) {
    return {
      client: 'mysql2',
      connection: {
        ...parseMysqlUrl(config.databaseUrl as string),
        charset: 'utf8mb4',
        timezone: 'Z',
        supportBigNumbers: true,
        decimalNumbers: true,
        maxPreparedStatements: PREPARED_PER_CONNECTION,
      } as Knex.MySql2ConnectionConfig,
      pool: {
        min: 0,
        max: config.dbPoolMax,
        // Read committed: a locking read of a key that does not exist yet takes no gap lock, so concurrent
        // inserts for one tenant serialise on the tenant row instead of deadlocking on gaps.
        afterCreate(
          conn: { query: (sql: string, cb: (err: Error | null) => void) => void },
          done: (err: Error | null, conn: unknown) => void,
        ) {
          conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => done(err, conn));
        },
      },
      acquireConnectionTimeout: 60_000,
    };
  },
  forUpdate: ' FOR UPDATE',
  hasProcedures: true,
  hasEvents: true,
  async withNamedLock(knex, name, work) {
    // GET_LOCK belongs to a connection: take one out of the pool for the lock's whole life.
    const conn = await knex.client.acquireConnection();
    const lockName = `${name}:${(conn as { config: { database: string } }).config.database}`;
    try {
      const [rows] = await knex.raw('SELECT GET_LOCK(?, 0) AS got', [lockName]).connection(conn);
      if (Number((rows as { got: unknown }[])[0]?.got) !== 1) return undefined;
      try {
        return await work();
      } finally {
        await knex.raw('SELECT RELEASE_LOCK(?)', [lockName]).connection(conn);
      }
    } finally {
      await knex.client.releaseConnection(conn);
    }
  },
  byteLength: (column) => `LENGTH(${column})`,
  // mysql2 formats parameters into the query text, so only max_allowed_packet bounds a statement.
  maxBindings: 60_000,
  async upsert(trx, table, rows, _key, merge) {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]);
    const sql =
      `INSERT INTO ${quoteMysql(table)} (${columns.map(quoteMysql).join(', ')}) VALUES ` +
      Array<string>(rows.length)
        .fill(`(${columns.map(() => '?').join(', ')})`)
        .join(', ') +
      ` ON DUPLICATE KEY UPDATE ${merge.map((c) => `${quoteMysql(c)} = VALUES(${quoteMysql(c)})`).join(', ')}`;
    const bindings = rows.flatMap((row) => columns.map((c) => row[c]));
    // One statement, prepared: megabytes of values travel as binary parameters instead of being escaped into
    // the SQL text and parsed back out of it (a 4 MB batch of 256 rows: 42–47 ms against 83–119 ms, measured).
    // Past the placeholder limit (MAX_BATCH_ITEMS raised above ~13,000) the text protocol takes over.
    const conn = (await trx.client.acquireConnection()) as MysqlConnection;
    await send(conn, bindings.length <= MAX_PREPARED_PLACEHOLDERS ? 'execute' : 'query', sql, bindings);
  },
  rowsOf: (result) => (result as [Record<string, unknown>[]])[0],
  async run(knex, sql, bindings) {
    // knex's runner costs about 20 µs of CPU a statement here (measured: 45 against 21 µs per point select);
    // the pool is still knex's, and so is its check that a connection is healthy before handing it out.
    const conn = (await knex.client.acquireConnection()) as MysqlConnection;
    try {
      return await send(conn, 'query', sql, bindings);
    } finally {
      await knex.client.releaseConnection(conn);
    }
  },
  isRetryable: (err) => {
    const code = errorCode(err);
    return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT';
  },
  isDuplicateKey: (err) => errorCode(err) === 'ER_DUP_ENTRY',
};

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
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma: (sql: string) => unknown }, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          // LIKE compares case-sensitively, as MySQL does on the service's binary collation.
          conn.pragma('case_sensitive_like = ON');
          done(null, conn);
        },
      },
    };
  },
  forUpdate: '',
  hasProcedures: false,
  hasEvents: false,
  // The embedded database serves one process (WEB_CONCURRENCY is 1), so there is nobody to exclude.
  withNamedLock: (_knex, _name, work) => work(),
  byteLength: (column) => `length(CAST(${column} AS BLOB))`,
  maxBindings: 32_000,
  async upsert(trx, table, rows, key, merge) {
    // knex writes a multi-row SQLite insert as one compound SELECT … UNION ALL SELECT …, which SQLite bounds:
    // larger batches take several statements, still in the caller's one transaction.
    for (let i = 0; i < rows.length; i += SQLITE_ROWS_PER_INSERT) {
      await trx(table)
        .insert(rows.slice(i, i + SQLITE_ROWS_PER_INSERT))
        .onConflict(key)
        .merge(merge);
    }
  },
  rowsOf: (result) => result as Record<string, unknown>[],
  run: async (knex, sql, bindings) => (await knex.raw(sql, bindings as Knex.RawBinding[])) as Record<string, unknown>[],
  isRetryable: (err) => errorCode(err) === 'SQLITE_BUSY',
  isDuplicateKey: (err) => {
    const code = errorCode(err);
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  },
};

export function dialectFor(config: Pick<Config, 'databaseUrl'>): Dialect {
  return config.databaseUrl === undefined ? sqliteDialect : mysqlDialect;
}

/** For migrations, which receive a bare knex: MySQL-only DDL (procedures, events, charsets) is guarded by this. */
export function isMysql(knex: Knex): boolean {
  return (knex.client as { config: Knex.Config }).config.client === 'mysql2';
}

const privilegeErrors = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_EVENTS_DB_ERROR',
  'ER_EVENT_CANNOT_CREATE_IN_THE_PAST',
  'ER_NOT_SUPPORTED_YET',
  'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER',
]);

/** True when MySQL refused an operation for lack of a privilege or feature (managed and distributed engines). */
export function isPrivilegeError(err: unknown): boolean {
  const code = errorCode(err);
  return typeof code === 'string' && privilegeErrors.has(code);
}
