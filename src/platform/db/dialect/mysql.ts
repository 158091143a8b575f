import { TLSSocket } from 'node:tls';
import knex, { type Knex } from 'knex';
import { createConnection, type ConnectionOptions, type SslOptions } from 'mysql2';
import type { Config, DbTls } from '../../config';
import type { Connection, DbErrorKind, Dialect, EventInfo, OnConflict, Row, ServerFacts, WriteResult } from './index';
import { StatementTooLargeError, classifyCommon } from './errors';

type Callback = (err: Error | null, result: unknown) => void;

/** The part of a mysql2 connection used here: text-protocol queries and prepared statements. */
interface MysqlConnection {
  query(sql: string, bindings: readonly unknown[], callback: Callback): void;
  execute(sql: string, bindings: readonly unknown[], callback: Callback): void;
  config: { database: string };
  /** Its socket: mysql2 replaces the TCP socket by a TLSSocket when it encrypts the connection. */
  stream: unknown;
}

/** MySQL refuses a prepared statement with more placeholders than this. */
const MAX_PREPARED_PLACEHOLDERS = 65_535;

/** Prepared statements each connection keeps open: batches of many sizes must not exhaust the server's limit. */
export const PREPARED_PER_CONNECTION = 16;

const quote = (name: string): string => `\`${name}\``;

/** What each pooled connection's server said about itself when the pool opened the connection. */
const serverFacts = new WeakMap<object, ServerFacts>();

/**
 * Sends one statement on a mysql2 connection, as a text query or a prepared statement. One that the server would
 * refuse for its size (max_allowed_packet: it answers by dropping the connection) is refused here, naming the
 * limit, before a byte is sent.
 */
function send(
  conn: Connection,
  method: 'query' | 'execute',
  sql: string,
  bindings: readonly unknown[],
): Promise<unknown> {
  const limit = serverFacts.get(conn as object)?.maxStatementBytes;
  if (limit !== undefined) {
    const bytes = statementBytes(sql, bindings, method === 'execute');
    if (bytes > limit) return Promise.reject(new StatementTooLargeError(bytes, limit));
  }
  return new Promise((resolve, reject) => {
    (conn as MysqlConnection)[method](sql, bindings, (err, result) => {
      if (!err) return resolve(result);
      // The server names the limit without its number; the pool read it when it opened the connection.
      if (errorCode(err) === 'ER_NET_PACKET_TOO_LARGE') {
        return reject(Object.assign(new StatementTooLargeError(undefined, limit), { cause: err }));
      }
      reject(err);
    });
  });
}

/** About how many bytes a statement with these bindings takes on the wire (a prepared one, or text). */
function statementBytes(sql: string, bindings: readonly unknown[], prepared: boolean): number {
  let bytes = prepared ? 64 : sql.length;
  for (const b of bindings) {
    const length = typeof b === 'string' ? Buffer.byteLength(b) : Buffer.isBuffer(b) ? b.length : 8;
    // A prepared parameter carries a length prefix; a text value is quoted and some of its bytes escaped.
    bytes += prepared ? length + 9 : Math.ceil(length * 1.1) + 3;
  }
  return bytes;
}

/**
 * Every pooled connection, once: read committed (a locking read of a key that does not exist yet takes no gap
 * lock, so concurrent inserts for one tenant serialise on the tenant row instead of deadlocking on gaps); a lock
 * wait bounded by DB_LOCK_WAIT_TIMEOUT_SECONDS; and on a Galera cluster, reads that wait until the node has
 * applied every write the cluster acknowledged before them (wsrep_sync_wait = 1: a write acknowledged by one
 * instance is seen by the next read on any node), and no automatic retry of autocommit statements by the server
 * (wsrep_retry_autocommit = 0: a retried CALL can answer result rows without their header, which the driver
 * cannot read; the service retries them itself, whole). SQL that MySQL 8 runs as well as MariaDB.
 */
async function setUpSession(conn: MysqlConnection, config: Config): Promise<void> {
  await send(conn, 'query', 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', []);
  const facts = await readFacts(conn);
  const settings = [`innodb_lock_wait_timeout = ${Math.trunc(config.dbLockWaitTimeoutSeconds)}`];
  if (facts.galera) settings.push('wsrep_sync_wait = 1', 'wsrep_retry_autocommit = 0');
  await send(conn, 'query', `SET SESSION ${settings.join(', ')}`, []);
}

/** wsrep_on is not a variable at all on MySQL 8, and OFF on a MariaDB without Galera. */
async function readFacts(conn: Connection): Promise<ServerFacts> {
  const rows = (await send(
    conn,
    'query',
    "SHOW SESSION VARIABLES WHERE Variable_name IN ('max_allowed_packet', 'wsrep_on')",
    [],
  )) as Row[];
  const variables = new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]));
  const packet = Number(variables.get('max_allowed_packet'));
  const facts: ServerFacts = {
    galera: variables.get('wsrep_on')?.toUpperCase() === 'ON',
    maxStatementBytes: Number.isFinite(packet) && packet > 0 ? packet : undefined,
    tls: tlsOf(conn as MysqlConnection),
  };
  serverFacts.set(conn as object, facts);
  return facts;
}

/** Read from the socket itself: what the connection negotiated, without a statement. */
function tlsOf(conn: MysqlConnection): string | undefined {
  const socket = conn.stream;
  if (!(socket instanceof TLSSocket)) return undefined;
  return `${socket.getProtocol() ?? 'TLS'}, ${socket.getCipher().name}`;
}

/**
 * mysql2's `ssl` for an ssl-mode, as MySQL's clients mean them: PREFERRED and REQUIRED encrypt without checking
 * who answers; VERIFY_CA checks that DB_SSL_CA (or a public CA) signed the server's certificate; VERIFY_IDENTITY
 * also that the certificate is for the host name of DATABASE_URL, during the handshake, before the credentials
 * are sent.
 */
function sslOptions(tls: DbTls): SslOptions | undefined {
  if (tls.mode === 'DISABLED') return undefined;
  return {
    ca: tls.ca?.content,
    cert: tls.client?.cert.content,
    key: tls.client?.key.content,
    rejectUnauthorized: tls.mode === 'VERIFY_CA' || tls.mode === 'VERIFY_IDENTITY',
    verifyIdentity: tls.mode === 'VERIFY_IDENTITY',
  };
}

/**
 * PREFERRED: TLS when the server offers it, else a plain connection. mysql2 either requires TLS or never asks for
 * it, so one connection asks first; knex keeps the settings this resolves to for every later connection.
 */
function preferTls(settings: ConnectionOptions, ssl: SslOptions): Promise<ConnectionOptions> {
  return new Promise((resolve, reject) => {
    const probe = createConnection({ ...settings, ssl });
    probe.connect((err) => {
      if (!err) return probe.end(() => resolve({ ...settings, ssl }));
      probe.destroy();
      if (errorCode(err) === 'HANDSHAKE_NO_SSL_SUPPORT') resolve(settings);
      else reject(err);
    });
  });
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

const errorKinds: Record<string, DbErrorKind> = {
  // A deadlock, and on Galera a certification conflict or a brute-force abort: the transaction was rolled back.
  ER_LOCK_DEADLOCK: 'retryable',
  // A lock held for the whole innodb_lock_wait_timeout: trying again at once would only wait again.
  ER_LOCK_WAIT_TIMEOUT: 'busy',
  ER_CON_COUNT_ERROR: 'busy',
  ER_TOO_MANY_USER_CONNECTIONS: 'busy',
  ER_USER_LIMIT_REACHED: 'busy',
  PROTOCOL_CONNECTION_LOST: 'unavailable',
  PROTOCOL_SEQUENCE_TIMEOUT: 'unavailable',
  ER_SERVER_SHUTDOWN: 'unavailable',
  ER_CONNECTION_KILLED: 'unavailable',
  ER_QUERY_INTERRUPTED: 'unavailable',
  ER_NET_READ_INTERRUPTED: 'unavailable',
  ER_NET_ERROR_ON_WRITE: 'unavailable',
  ER_NEW_ABORTING_CONNECTION: 'unavailable',
  // Galera: "WSREP has not yet prepared node for application use" (a node joining, or cut off from the others).
  ER_UNKNOWN_COM_ERROR: 'unavailable',
  // The server's certificate refused (not trusted, not for this host), or no TLS offered when it is required.
  HANDSHAKE_SSL_ERROR: 'tls',
  HANDSHAKE_NO_SSL_SUPPORT: 'tls',
  ER_NET_PACKET_TOO_LARGE: 'packet_too_large',
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
    const settings: ConnectionOptions = {
      ...parseMysqlUrl(config.databaseUrl as string),
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      decimalNumbers: true,
      maxPreparedStatements: PREPARED_PER_CONNECTION,
      // A server that does not answer is unavailable: no longer than a request would wait for a connection.
      connectTimeout: config.dbAcquireTimeoutMs,
    };
    const ssl = sslOptions(config.dbTls);
    return {
      client: 'mysql2',
      connection:
        ssl && config.dbTls.mode === 'PREFERRED'
          ? () => preferTls(settings, ssl) as Promise<Knex.MySql2ConnectionConfig>
          : ({ ...settings, ssl } as Knex.MySql2ConnectionConfig),
      pool: {
        min: 0,
        max: config.dbPoolMax,
        afterCreate(conn: MysqlConnection, done: (err: Error | null, conn: unknown) => void) {
          setUpSession(conn, config).then(
            () => done(null, conn),
            (err: Error) => done(err, conn),
          );
        },
      },
      acquireConnectionTimeout: config.dbAcquireTimeoutMs,
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
    if (typeof code === 'string' && Object.hasOwn(errorKinds, code)) return errorKinds[code];
    const common = classifyCommon(err);
    if (common) return common;
    // mysql2 marks the errors after which a connection is unusable (its socket closed under it) as fatal.
    return (err as { fatal?: unknown } | null)?.fatal === true ? 'unavailable' : undefined;
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
        status: String(event.status),
      },
    };
  },
  inspect: async (conn) => serverFacts.get(conn as object) ?? readFacts(conn),
};
