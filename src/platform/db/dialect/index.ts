import type { Knex } from 'knex';
import type { Config } from '../../config';
import { mysqlDialect } from './mysql';
import { sqliteDialect } from './sqlite';

export type Row = Record<string, unknown>;

export interface WriteResult {
  affectedRows: number;
  /** The id an INSERT gave an auto-increment column. */
  insertId: number;
}

/** What a driver error means to the service; undefined for anything else (a fault). */
export type DbErrorKind =
  /** A deadlock or a cluster's certification conflict: the database rolled the transaction back, running it again is safe. */
  | 'retryable'
  /**
   * The database cannot take the work now: a lock held past the lock wait timeout, no pooled connection free in
   * time, too many connections. Retrying later can succeed (503 BUSY).
   */
  | 'busy'
  /**
   * The database cannot be reached, or the connection was lost (refused, reset, killed, the server gone or
   * shutting down, a cluster node not ready). Retrying later can succeed (503 DATABASE_UNAVAILABLE).
   */
  | 'unavailable'
  /**
   * The connection's TLS failed: the server's certificate is not trusted or not for this host, or the server
   * offers no TLS. Only a change of settings (DATABASE_URL's ssl-mode, DB_SSL_CA) or of the server helps: at
   * start the service stops, naming them (server-check.ts); a request meanwhile is answered 503 DATABASE_UNAVAILABLE.
   */
  | 'tls'
  /** A statement larger than the server accepts (MySQL max_allowed_packet): see StatementTooLargeError. */
  | 'packet_too_large'
  /** The row breaks a unique constraint. */
  | 'duplicate_key'
  /** A CREATE of something that another instance has just created. */
  | 'already_exists'
  /** Refused for lack of a privilege or a feature (managed and distributed engines). */
  | 'privilege';

/** What the service needs to know about the server it talks to, read once per connection. */
export interface ServerFacts {
  /** A Galera cluster (wsrep_on): multi-primary, conflicts at commit, node-local locks and events. */
  galera: boolean;
  /** The largest statement the server accepts, in bytes (MySQL max_allowed_packet); undefined where unbounded. */
  maxStatementBytes: number | undefined;
  /** The TLS protocol and cipher of the connection ("TLSv1.3, TLS_AES_256_GCM_SHA384"); undefined: not encrypted. */
  tls: string | undefined;
}

/** A pooled connection as the driver hands it out; only the dialect looks inside. */
export type Connection = unknown;

/**
 * The only code that knows MySQL/MariaDB from SQLite (this folder). Everything else asks the dialect for the piece
 * of SQL, the connection-level operation or the meaning of an error that differs.
 */
export interface Dialect {
  name: 'mysql' | 'sqlite';
  knexConfig(config: Config): Knex.Config;
  /** A knex that only builds SQL (`.toSQL()`); it has no connection, so awaiting a query built with it fails. */
  builder: Knex;
  /** Suffix of a locking read: FOR UPDATE where rows can be locked, nothing where the database is locked whole. */
  forUpdate: string;
  /** SQL for the byte length of a stored text column. */
  byteLength(column: string): string;
  /** How many bound parameters one statement may carry. */
  maxBindings: number;
  /** The database can run the purge itself on a schedule (MySQL EVENT) and has stored procedures. */
  hasEvents: boolean;
  hasProcedures: boolean;

  select(conn: Connection, sql: string, bindings: readonly unknown[]): Promise<Row[]>;
  execute(conn: Connection, sql: string, bindings: readonly unknown[]): Promise<WriteResult>;
  /** Calls a stored procedure and resolves to its result sets. */
  call(conn: Connection, sql: string, bindings: readonly unknown[]): Promise<Row[][]>;
  /** Starts a transaction on `conn`; the first write of a SQLite transaction would otherwise upgrade its lock late. */
  begin(conn: Connection): Promise<void>;
  commit(conn: Connection): Promise<void>;
  rollback(conn: Connection): Promise<void>;
  /**
   * Inserts `rows` of `table` (every row with the same columns) on `conn`, inside the caller's transaction; with
   * `onConflict`, a row whose `key` exists already has its `update` columns replaced instead.
   */
  insert(conn: Connection, table: string, rows: Row[], onConflict?: OnConflict): Promise<void>;
  classify(err: unknown): DbErrorKind | undefined;
  /** A key column as text: MySQL's binary column reads back as a Buffer, SQLite's as a string. */
  keyText(value: unknown): string;
  /**
   * Runs `work` only if this process gets the named lock, so that several instances take turns; resolves to
   * undefined when another holds it. A MySQL lock belongs to a connection, taken from `pool` for the lock's life.
   */
  withNamedLock<T>(pool: ConnectionPool, name: string, work: () => Promise<T>): Promise<T | undefined>;
  /** The catalogue: which of these stored procedures exist in the database (none where there are none). */
  existingRoutines(conn: Connection, names: string[]): Promise<Set<string>>;
  /**
   * Makes knex's migration tables exist with exactly one lock row before knex looks at them, so that instances
   * starting at once on a fresh database neither fail creating them nor leave two lock rows (which would lock
   * every later start out). Where one process owns the database, nothing to do.
   */
  prepareMigrations(conn: Connection): Promise<void>;
  /** The purge EVENT as the catalogue describes it, and whether the scheduler runs events at all. */
  eventInfo(conn: Connection, name: string): Promise<EventInfo>;
  /** What this connection's server is (read when the pool opened it). */
  inspect(conn: Connection): Promise<ServerFacts>;
}

export interface OnConflict {
  key: string[];
  update: string[];
}

export interface EventInfo {
  schedulerOn: boolean;
  /** Undefined when there is no such event. */
  event?: {
    intervalSeconds: number | undefined;
    body: string;
    enabled: boolean;
    /** ENABLED, DISABLED, or SLAVESIDE_DISABLED (a replica, or a Galera node other than the event's home). */
    status: string;
  };
}

export interface ConnectionPool {
  acquire(): Promise<Connection>;
  release(conn: Connection): void;
}

export function dialectFor(config: Pick<Config, 'databaseUrl'>): Dialect {
  return config.databaseUrl === undefined ? sqliteDialect : mysqlDialect;
}

export { parseMysqlUrl } from './mysql';
export { StatementTooLargeError } from './errors';
