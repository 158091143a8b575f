import type { Knex } from 'knex';
import type { Connection, ConnectionPool, Dialect, OnConflict, Row, WriteResult } from './dialect';
import { retried } from './retry';

export type { Row, WriteResult };

/** A statement: constant SQL text with `?` placeholders, or a query built with `sql.build`. */
export type Query = string | { toSQL(): { toNative(): { sql: string; bindings: readonly unknown[] } } };

/**
 * How repositories run SQL: bound to one connection inside a transaction (`Db.transaction`), or to the pool,
 * one statement per connection. Repositories take one and never know which.
 */
export interface Sql {
  readonly dialect: Dialect;
  /** Builds a query (knex's builder) to hand to select/execute; it cannot run on its own. */
  build: Knex;
  select(query: Query, bindings?: readonly unknown[]): Promise<Row[]>;
  execute(query: Query, bindings?: readonly unknown[]): Promise<WriteResult>;
  /** Calls a stored procedure; resolves to its result sets. */
  call(query: string, bindings: readonly unknown[]): Promise<Row[][]>;
  /** Inserts rows (all with the same columns) in as few statements as the database allows. */
  insert(table: string, rows: Row[], onConflict?: OnConflict): Promise<void>;
}

function native(query: Query, bindings: readonly unknown[] = []): { sql: string; bindings: readonly unknown[] } {
  return typeof query === 'string' ? { sql: query, bindings } : query.toSQL().toNative();
}

export function connectionSql(dialect: Dialect, conn: Connection): Sql {
  return {
    dialect,
    build: dialect.builder,
    select(query, bindings) {
      const q = native(query, bindings);
      return dialect.select(conn, q.sql, q.bindings);
    },
    execute(query, bindings) {
      const q = native(query, bindings);
      return dialect.execute(conn, q.sql, q.bindings);
    },
    call: (query, bindings) => dialect.call(conn, query, bindings),
    insert: (table, rows, onConflict) => dialect.insert(conn, table, rows, onConflict),
  };
}

/**
 * Each statement on a connection of its own from the pool: for reads and for single-statement writes. Every
 * write is retried like a transaction (retry.ts): on a cluster an autocommit statement conflicts at commit too,
 * and the server's own retry of it (wsrep_retry_autocommit) is off because it can garble a CALL's answer.
 */
export function poolSql(dialect: Dialect, pool: ConnectionPool): Sql {
  const on = async <R>(run: (conn: Connection) => Promise<R>): Promise<R> => {
    const conn = await pool.acquire();
    try {
      return await run(conn);
    } finally {
      pool.release(conn);
    }
  };
  return {
    dialect,
    build: dialect.builder,
    select(query, bindings) {
      const q = native(query, bindings);
      return on((conn) => dialect.select(conn, q.sql, q.bindings));
    },
    execute(query, bindings) {
      const q = native(query, bindings);
      return retried(dialect, () => on((conn) => dialect.execute(conn, q.sql, q.bindings)));
    },
    call: (query, bindings) => retried(dialect, () => on((conn) => dialect.call(conn, query, bindings))),
    insert: (table, rows, onConflict) =>
      retried(dialect, () => on((conn) => dialect.insert(conn, table, rows, onConflict))),
  };
}
