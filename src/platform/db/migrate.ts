import type { Logger } from '../logger';
import type { Db } from './database';
import { retried } from './retry';
import { migrationSource } from '../../../db/migrations';

/** How long a starter waits for another instance's migration before it gives up. */
const LOCK_WAIT_MS = 5 * 60 * 1000;
const LOCK_POLL_MS = 500;

/**
 * Brings the schema up to date. Instances that start together take turns: one migrates, the others wait for it
 * (knex's migration lock) and then find nothing left to do.
 */
export async function migrateLatest(db: Db, logger?: Logger): Promise<void> {
  const conn = await db.pool.acquire();
  try {
    await retried(db.dialect, () => db.dialect.prepareMigrations(conn));
  } finally {
    db.pool.release(conn);
  }
  const deadline = Date.now() + LOCK_WAIT_MS;
  let waiting = false;
  for (;;) {
    try {
      await db.knex.migrate.latest({ migrationSource });
      if (waiting) logger?.info('the other instance finished migrating; the schema is up to date');
      return;
    } catch (err) {
      if ((err as Error).name !== 'MigrationLocked') throw err;
      if (Date.now() > deadline) {
        throw new Error(
          `the database's migration lock has been held for ${LOCK_WAIT_MS / 60_000} minutes. If no other instance ` +
            'is migrating (one that died mid-migration leaves the lock behind), release it with ' +
            '`UPDATE knex_migrations_lock SET is_locked = 0` and start again',
          { cause: err },
        );
      }
      if (!waiting) logger?.warn('another instance is migrating this database: waiting for it to finish');
      waiting = true;
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }
}
