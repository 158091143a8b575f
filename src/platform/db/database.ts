import knex, { type Knex } from 'knex';
import type { Config } from '../config';
import { dialectFor, type Connection, type ConnectionPool, type Dialect, type ServerFacts } from './dialect';
import { retried } from './retry';
import { connectionSql, poolSql, type Sql } from './sql';

/**
 * A database handle: knex's pool (and its migrator), the dialect it speaks, and the two ways to run SQL: `sql`,
 * one statement at a time on any pooled connection, and `transaction`, the one place a transaction starts.
 * Created once per process, never on import.
 */
export interface Db {
  readonly dialect: Dialect;
  /** For migrations only: everything else runs SQL through `sql` and `transaction`. */
  readonly knex: Knex;
  readonly pool: ConnectionPool;
  readonly sql: Sql;
  /**
   * Runs `work` in one transaction on one connection and commits; rolls back if it throws. The whole unit runs
   * again when the database resolved a deadlock (or a cluster's conflict at commit) by rolling it back, for about
   * 2 s of pauses (retry.ts); a row lock waited for past DB_LOCK_WAIT_TIMEOUT_SECONDS is not tried again.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /** What the server is (a Galera cluster? its largest statement?), asked once. */
  server(): Promise<ServerFacts>;
  /** The pool's connections now (all 0 once closed). */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Lent out to a statement or a transaction. */
  used: number;
  /** Open and idle. */
  free: number;
  /** Requests waiting for a connection. */
  pending: number;
}

/** The counts of knex's pool (tarn), which is knex's own and undefined once destroyed. */
interface TarnCounts {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

export function createDb(config: Config): Db {
  const dialect = dialectFor(config);
  const instance = knex(dialect.knexConfig(config));
  const pool: ConnectionPool = {
    acquire: () => instance.client.acquireConnection() as Promise<Connection>,
    release: (conn) => void instance.client.releaseConnection(conn),
  };
  const once = async <T>(work: (sql: Sql) => Promise<T>): Promise<T> => {
    const conn = await pool.acquire();
    try {
      await dialect.begin(conn);
      try {
        const result = await work(connectionSql(dialect, conn));
        await dialect.commit(conn);
        return result;
      } catch (err) {
        // A rollback that fails (the connection died) must not hide the error that caused it.
        await dialect.rollback(conn).catch(() => undefined);
        throw err;
      }
    } finally {
      pool.release(conn);
    }
  };
  let facts: Promise<ServerFacts> | undefined;
  const server = (): Promise<ServerFacts> =>
    (facts ??= (async () => {
      const conn = await pool.acquire();
      try {
        return await dialect.inspect(conn);
      } finally {
        pool.release(conn);
      }
    })().catch((err: unknown) => {
      facts = undefined;
      throw err;
    }));
  return {
    dialect,
    knex: instance,
    pool,
    sql: poolSql(dialect, pool),
    transaction: (work) => retried(dialect, () => once(work)),
    server,
    poolStats() {
      const tarn = instance.client.pool as TarnCounts | undefined;
      return tarn
        ? { used: tarn.numUsed(), free: tarn.numFree(), pending: tarn.numPendingAcquires() }
        : { used: 0, free: 0, pending: 0 };
    },
    close: () => instance.destroy(),
  };
}
