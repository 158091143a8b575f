import type { Db } from './database';
import { migrationSource } from '../../../db/migrations';

/** Brings the schema up to date; knex's migration lock keeps concurrent starters from racing. */
export async function migrateLatest(db: Db): Promise<void> {
  await db.knex.migrate.latest({ migrationSource });
}
