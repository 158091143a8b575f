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

/** Calls a procedure that holds its own transaction (and rolls it back on error), retrying like inTransaction. */
export async function callProcedure(db: Db, sql: string, bindings: readonly unknown[]): Promise<unknown[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return db.dialect.rowsOf(await db.knex.raw(sql, bindings as Knex.RawBinding[])) as unknown[];
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !db.dialect.isRetryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}
