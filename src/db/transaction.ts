import type { Knex } from 'knex';
import type { Db } from './knex';

const MAX_ATTEMPTS = 10;

/**
 * Runs `attempt` again when it fails with a deadlock or lock wait timeout: the database has rolled the whole
 * transaction back, so starting over is safe. After MAX_ATTEMPTS the error reaches the caller as a fault.
 */
async function retried<T>(db: Db, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= MAX_ATTEMPTS || !db.dialect.isRetryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * n));
    }
  }
}

/** The one place a transaction starts. */
export function inTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return retried(db, () => db.knex.transaction(work));
}

/** Calls a procedure that holds its own transaction (and rolls it back on error); returns its result sets. */
export function callProcedure(db: Db, sql: string, bindings: readonly unknown[]): Promise<unknown[]> {
  return retried(db, () => db.dialect.run(db.knex, sql, bindings));
}
