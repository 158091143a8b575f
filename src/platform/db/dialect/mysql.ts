import knex, { type Knex } from 'knex';
import type { Connection, DbErrorKind, Dialect, EventInfo, OnConflict, Row, WriteResult } from './index';

type Callback = (err: Error | null, result: unknown) => void;

/** The part of a mysql2 connection used here: text-protocol queries and prepared statements. */
interface MysqlConnection {
  query(sql: string, bindings: readonly unknown[], callback: Callback): void;
  execute(sql: string, bindings: readonly unknown[], callback: Callback): void;
  config: { database: string };
}

/** MySQL refuses a prepared statement with more placeholders than this. */
const MAX_PREPARED_PLACEHOLDERS = 65_535;

/** Prepared statements each connection keeps open: batches of many sizes must not exhaust the server's limit. */
export const PREPARED_PER_CONNECTION = 16;

const quote = (name: string): string => `\`${name}\``;

/** Sends one statement on a mysql2 connection, as a text query or a prepared statement. */
function send(
  conn: Connection,
  method: 'query' | 'execute',
  sql: string,
  bindings: readonly unknown[],
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    (conn as MysqlConnection)[method](sql, bindings, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

const errorKinds: Record<string, DbErrorKind> = {
  ER_LOCK_DEADLOCK: 'retryable',
  ER_LOCK_WAIT_TIMEOUT: 'retryable',
  ER_DUP_ENTRY: 'duplicate_key',
  ER_SP_ALREADY_EXISTS: 'already_exists',
  ER_EVENT_ALREADY_EXISTS: 'already_exists',
  ER_DBACCESS_DENIED_ERROR: 'privilege',
  ER_SPECIFIC_ACCESS_DENIED_ERROR: 'privilege',
  ER_PROCACCESS_DENIED_ERROR: 'privilege',
  ER_TABLEACCESS_DENIED_ERROR: 'privilege',
  ER_EVENTS_DB_ERROR: 'privilege',
  ER_EVENT_CANNOT_CREATE_IN_THE_PAST: 'privilege',
  ER_NOT_SUPPORTED_YET: 'privilege',
  ER_BINLOG_CREATE_ROUTINE_NEED_SUPER: 'privilege',
};

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS knex_migrations (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), batch INT, migration_time TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
const MIGRATIONS_LOCK_TABLE = `CREATE TABLE IF NOT EXISTS knex_migrations_lock (
  \`index\` INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, is_locked INT
) ENGINE=InnoDB`;

/** One multi-row INSERT of `rows` rows of `columns`; with `update`, ON DUPLICATE KEY UPDATE of those columns. */
export function insertSql(table: string, columns: string[], rows: number, update?: string[]): string {
  return (
    `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES ` +
    Array<string>(rows)
      .fill(`(${columns.map(() => '?').join(', ')})`)
      .join(', ') +
    (update ? ` ON DUPLICATE KEY UPDATE ${update.map((c) => `${quote(c)} = VALUES(${quote(c)})`).join(', ')}` : '')
  );
}

/** The one reader of a mysql:// (or mariadb://) URL. */
export function parseMysqlUrl(url: string): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
} {
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
  builder: knex({ client: 'mysql2' }),
  forUpdate: ' FOR UPDATE',
  byteLength: (column) => `LENGTH(${column})`,
  // Text queries carry their values in the statement, so only max_allowed_packet bounds them.
  maxBindings: 60_000,
  hasEvents: true,
  hasProcedures: true,

  select: async (conn, sql, bindings) => (await send(conn, 'query', sql, bindings)) as Row[],
  async execute(conn, sql, bindings) {
    const header = (await send(conn, 'query', sql, bindings)) as WriteResult;
    return { affectedRows: header.affectedRows, insertId: Number(header.insertId) };
  },
  async call(conn, sql, bindings) {
    // A CALL answers each SELECT of the procedure as a result set, then a status header; only the header when
    // it selects nothing.
    const results = await send(conn, 'query', sql, bindings);
    return Array.isArray(results) ? results.filter((r): r is Row[] => Array.isArray(r)) : [];
  },
  begin: async (conn) => void (await send(conn, 'query', 'START TRANSACTION', [])),
  commit: async (conn) => void (await send(conn, 'query', 'COMMIT', [])),
  rollback: async (conn) => void (await send(conn, 'query', 'ROLLBACK', [])),
  async insert(conn, table, rows, onConflict?: OnConflict) {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]);
    const sql = insertSql(table, columns, rows.length, onConflict?.update);
    const bindings = rows.flatMap((row) => columns.map((c) => row[c]));
    // One statement, prepared: megabytes of values travel as binary parameters instead of being escaped into
    // the SQL text and parsed back out of it (docs/BENCHMARKS.md). Past the placeholder limit (MAX_BATCH_ITEMS
    // raised far above its default) the text protocol takes over.
    await send(conn, bindings.length <= MAX_PREPARED_PLACEHOLDERS ? 'execute' : 'query', sql, bindings);
  },
  classify(err) {
    const code = errorCode(err);
    return typeof code === 'string' && Object.hasOwn(errorKinds, code) ? errorKinds[code] : undefined;
  },
  keyText: (value) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value)),

  async withNamedLock(pool, name, work) {
    const conn = await pool.acquire();
    const lockName = `${name}:${(conn as MysqlConnection).config.database}`;
    try {
      const [row] = (await send(conn, 'query', 'SELECT GET_LOCK(?, 0) AS got', [lockName])) as Row[];
      if (Number(row?.got) !== 1) return undefined;
      try {
        return await work();
      } finally {
        await send(conn, 'query', 'SELECT RELEASE_LOCK(?)', [lockName]);
      }
    } finally {
      pool.release(conn);
    }
  },
  async existingRoutines(conn, names) {
    if (names.length === 0) return new Set();
    const rows = (await send(
      conn,
      'query',
      `SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES
       WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME IN (?)`,
      [names],
    )) as Row[];
    return new Set(rows.map((r) => String(r.name)));
  },
  async prepareMigrations(conn) {
    // The tables as knex itself creates them (lib/migrations/migrate/table-creator.js), but IF NOT EXISTS.
    await send(conn, 'query', MIGRATIONS_TABLE, []);
    await send(conn, 'query', MIGRATIONS_LOCK_TABLE, []);
    await send(conn, 'query', 'START TRANSACTION', []);
    try {
      const rows = (await send(
        conn,
        'query',
        'SELECT `index` AS id, is_locked FROM knex_migrations_lock ORDER BY `index` FOR UPDATE',
        [],
      )) as Row[];
      if (rows.length === 0) {
        await send(conn, 'query', 'INSERT INTO knex_migrations_lock (`index`, is_locked) VALUES (1, 0)', []);
      } else if (rows.length > 1) {
        // Left by starters that raced before this existed: keep one row, locked if any was.
        const locked = rows.some((r) => Number(r.is_locked) === 1) ? 1 : 0;
        await send(conn, 'query', 'DELETE FROM knex_migrations_lock WHERE `index` <> ?', [rows[0].id]);
        await send(conn, 'query', 'UPDATE knex_migrations_lock SET is_locked = ?', [locked]);
      }
      await send(conn, 'query', 'COMMIT', []);
    } catch (err) {
      await send(conn, 'query', 'ROLLBACK', []).catch(() => undefined);
      // Another starter inserted the row first: that is the one row wanted.
      if (errorKinds[String(errorCode(err))] !== 'duplicate_key') throw err;
    }
  },
  async eventInfo(conn, name): Promise<EventInfo> {
    const [scheduler] = (await send(conn, 'query', 'SELECT @@event_scheduler AS state', [])) as Row[];
    const [event] = (await send(
      conn,
      'query',
      `SELECT INTERVAL_VALUE AS every, INTERVAL_FIELD AS unit, EVENT_DEFINITION AS body, STATUS AS status
       FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = ?`,
      [name],
    )) as Row[];
    const state = String(scheduler?.state).toUpperCase();
    return {
      schedulerOn: state === 'ON' || state === '1',
      event: event && {
        intervalSeconds: String(event.unit) === 'SECOND' ? Number(event.every) : undefined,
        body: String(event.body).trim(),
        enabled: String(event.status) === 'ENABLED',
      },
    };
  },
};
