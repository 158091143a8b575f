import knex, { type Knex } from 'knex';
import type { Config } from '../config';
import { dialectFor, type Dialect } from './dialect';

/** A database handle: the knex pool and the dialect it speaks. Created once per process, never on import. */
export interface Db {
  knex: Knex;
  dialect: Dialect;
}

export function createDb(config: Config): Db {
  const dialect = dialectFor(config);
  return { knex: knex(dialect.knexConfig(config)), dialect };
}

export async function closeDb(db: Db): Promise<void> {
  await db.knex.destroy();
}
