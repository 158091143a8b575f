import type { Knex } from 'knex';
import type { Db } from './knex';

const MAX_ATTEMPTS = 10;

/**
 * The one place a transaction starts. A deadlock or lock wait timeout rolls the whole transaction back, so
 * running it again from the start is safe; after MAX_ATTEMPTS the error reaches the caller as a server fault.
 */
export async function inTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.knex.transaction(work);
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !db.dialect.isRetryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}

/**
 * Runs a multi-statement script that holds its own START TRANSACTION … COMMIT, in one round trip, on a
 * connection of its own; returns the rows of each statement. If any statement fails the rest are not run, so
 * the transaction is rolled back here before the connection goes back to the pool; a deadlock or lock wait
 * timeout runs the whole script again, like inTransaction.
 */
export async function runScript(db: Db, sql: string, bindings: readonly unknown[]): Promise<unknown[]> {
  for (let attempt = 1; ; attempt++) {
    const conn = await db.knex.client.acquireConnection();
    try {
      const result = await db.knex.raw(sql, bindings as Knex.RawBinding[]).connection(conn);
      return db.dialect.rowsOf(result) as unknown[];
    } catch (err) {
      await db.knex
        .raw('ROLLBACK')
        .connection(conn)
        .catch(() => undefined);
      if (attempt >= MAX_ATTEMPTS || !db.dialect.isRetryable(err)) throw err;
    } finally {
      await db.knex.client.releaseConnection(conn);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
  }
}
