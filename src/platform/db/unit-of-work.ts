import type { Db } from './database';
import type { Sql } from './sql';

/**
 * One transaction handed to a use case as the repositories it needs, all bound to that transaction, so that
 * what they write commits or rolls back together. The whole unit runs again on a deadlock (Db.transaction).
 * Which repositories a unit holds is the composition root's choice (`bind`), not the platform's.
 */
export interface UnitOfWork<R> {
  run<T>(work: (repositories: R) => Promise<T>): Promise<T>;
}

export function unitOfWork<R>(db: Db, bind: (sql: Sql) => R): UnitOfWork<R> {
  return { run: (work) => db.transaction((sql) => work(bind(sql))) };
}
