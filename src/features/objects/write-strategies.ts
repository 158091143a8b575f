import type { Logger } from '../../platform/logger';
import type { Db } from '../../platform/db/database';
import { retried } from '../../platform/db/retry';
import type { ObjectWrite } from './objects.repository';
import type { WriteOutcome, WritePipeline } from './write-pipeline';

/**
 * How a single-object put or delete reaches the database. Both strategies answer alike; the contract suite
 * (test/integration/objects/write-contract.test.ts) runs every write case against each of them on each database.
 */
export interface WriteStrategy {
  readonly name: 'procedure' | 'transaction';
  putOne(tenantId: number, write: ObjectWrite, now: number): Promise<WriteOutcome>;
  deleteOne(tenantId: number, key: string): Promise<WriteOutcome>;
}

/**
 * The stored procedures of the MySQL strategy, by the version this release expects (migration
 * 20261201000005). A name carries its version, so that a procedure of another release is never called.
 */
export const WRITE_PROCEDURES = {
  put: 'tenantkv_put_v2',
  delete: 'tenantkv_delete_v2',
} as const;

export const PROCEDURE_SQL = {
  put: `CALL ${WRITE_PROCEDURES.put}(?, ?, ?, ?, ?)`,
  delete: `CALL ${WRITE_PROCEDURES.delete}(?, ?)`,
} as const;

/** The write pipeline, one transaction a statement at a time: every database, every case. */
export function transactionStrategy(pipeline: WritePipeline): WriteStrategy {
  return {
    name: 'transaction',
    putOne: (tenantId, write, now) => pipeline.put(tenantId, [write], now),
    deleteOne: (tenantId, key) => pipeline.delete(tenantId, [key]),
  };
}

/**
 * MySQL: the same story as the pipeline in one round trip, statements parsed once by the server
 * (docs/BENCHMARKS.md). The procedure decides only what the pipeline decides before its reclaim step: a write
 * it refuses for quota goes to the pipeline, which reclaims the tenant's expired objects and decides again.
 */
export function procedureStrategy(db: Db, pipeline: WritePipeline): WriteStrategy {
  return {
    name: 'procedure',
    async putOne(tenantId, write, now) {
      const [[result]] = await retried(db.dialect, () =>
        db.sql.call(PROCEDURE_SQL.put, [tenantId, write.key, write.value, write.size, write.expiresAt]),
      );
      if (!Number(result.tenant)) return { status: 'no_tenant' };
      if (Number(result.ok)) return { status: 'written' };
      return pipeline.put(tenantId, [write], now);
    },
    async deleteOne(tenantId, key) {
      const [[result]] = await retried(db.dialect, () => db.sql.call(PROCEDURE_SQL.delete, [tenantId, key]));
      return Number(result.tenant) ? { status: 'written' } : { status: 'no_tenant' };
    },
  };
}

/**
 * The procedure strategy where this release's procedures are installed, else the transaction strategy, said in
 * the log: a database user without CREATE ROUTINE, or a migration that could not create them, is not an error.
 */
export async function chooseWriteStrategy(db: Db, pipeline: WritePipeline, logger: Logger): Promise<WriteStrategy> {
  if (!db.dialect.hasProcedures) return transactionStrategy(pipeline);
  const wanted = Object.values(WRITE_PROCEDURES);
  const conn = await db.pool.acquire();
  let found: Set<string>;
  try {
    found = await db.dialect.existingRoutines(conn, wanted);
  } finally {
    db.pool.release(conn);
  }
  const missing = wanted.filter((name) => !found.has(name));
  if (missing.length === 0) return procedureStrategy(db, pipeline);
  logger.warn(
    { missing },
    `write procedures ${missing.join(', ')} are not installed (the database user may lack CREATE ROUTINE): ` +
      'single writes run as plain transactions, with more round trips',
  );
  return transactionStrategy(pipeline);
}
