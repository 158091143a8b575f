import type { Logger } from '../../platform/logger';
import type { Db } from '../../platform/db/database';
import { retried } from '../../platform/db/retry';
import type { Row } from '../../platform/db/sql';
import type { Moment } from '../../platform/clock';
import type { ObjectWrite, Precondition, WriteOutcome } from './write-model';
import type { Committed, WritePipeline } from './write-pipeline';

/**
 * How a single-object put or delete reaches the database. Both strategies answer alike; the contract suite
 * (test/integration/objects/write-contract.test.ts) runs every write case against each of them on each database.
 */
export interface WriteStrategy {
  readonly name: 'procedure' | 'transaction';
  putOne(tenantId: number, write: ObjectWrite, at: Moment): Promise<WriteOutcome>;
  deleteOne(tenantId: number, key: string, at: Moment, precondition?: Precondition): Promise<WriteOutcome>;
}

/**
 * The stored procedures of the MySQL strategy, by the version this release expects (migration
 * 20261201000007). A name carries its version, so that a procedure of another release is never called.
 */
export const WRITE_PROCEDURES = {
  put: 'tenantkv_put_v4',
  delete: 'tenantkv_delete_v4',
} as const;

export const PROCEDURE_SQL = {
  put: `CALL ${WRITE_PROCEDURES.put}(?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  delete: `CALL ${WRITE_PROCEDURES.delete}(?, ?, ?, ?, ?)`,
} as const;

/** A precondition as the procedures take it: a kind (0 none, 1 exists, 2 absent, 3 one of versions) and a list. */
export function procedureCondition(precondition: Precondition | undefined): [number, string] {
  if (!precondition) return [0, ''];
  if (precondition.kind === 'exists') return [1, ''];
  if (precondition.kind === 'absent') return [2, ''];
  return [3, precondition.versions.join(',')];
}

function failedOn(key: string, result: Row): WriteOutcome {
  const current = result.current_version === null ? null : Number(result.current_version);
  return { status: 'precondition_failed', failed: [{ key, currentVersion: current }] };
}

/** The write pipeline, one transaction a statement at a time: every database, every case. */
export function transactionStrategy(pipeline: WritePipeline): WriteStrategy {
  return {
    name: 'transaction',
    putOne: (tenantId, write, at) => pipeline.put(tenantId, [write], at),
    deleteOne: (tenantId, key, at, precondition) => pipeline.delete(tenantId, [key], at, precondition),
  };
}

/**
 * MySQL: the same story as the pipeline in one round trip, statements parsed once by the server
 * (docs/BENCHMARKS.md), its change record included. The procedure decides only what the pipeline decides before
 * its reclaim step, and only writes that keep no history: a write it refuses for quota goes to the pipeline,
 * which reclaims the tenant's expired objects (and evicts kept versions) and decides again, and so does a write
 * that would keep or trim kept versions (the procedure says so: `history`).
 */
export function procedureStrategy(db: Db, pipeline: WritePipeline, committed: Committed): WriteStrategy {
  return {
    name: 'procedure',
    async putOne(tenantId, write, at) {
      const [kind, versions] = procedureCondition(write.precondition);
      const [[result]] = await retried(db.dialect, () =>
        db.sql.call(PROCEDURE_SQL.put, [
          ...[tenantId, write.key, write.value, write.metadata, write.size, write.expiresAt],
          ...[at.ms, kind, versions],
        ]),
      );
      if (!Number(result.tenant)) return { status: 'no_tenant' };
      if (Number(result.history)) return pipeline.put(tenantId, [write], at);
      if (!Number(result.cond)) return failedOn(write.key, result);
      if (!Number(result.ok)) return pipeline.put(tenantId, [write], at);
      committed(tenantId, [write.key]);
      return { status: 'written', version: Number(result.version), deleted: 0 };
    },
    async deleteOne(tenantId, key, at, precondition) {
      const [kind, versions] = procedureCondition(precondition);
      const [[result]] = await retried(db.dialect, () =>
        db.sql.call(PROCEDURE_SQL.delete, [tenantId, key, at.ms, kind, versions]),
      );
      if (!Number(result.tenant)) return { status: 'no_tenant' };
      if (Number(result.history)) return pipeline.delete(tenantId, [key], at, precondition);
      if (!Number(result.cond)) return failedOn(key, result);
      if (result.version === null) return { status: 'unchanged', deleted: 0 };
      committed(tenantId, [key]);
      return { status: 'written', version: Number(result.version), deleted: Number(result.deleted) };
    },
  };
}

/**
 * The procedure strategy where this release's procedures are installed, else the transaction strategy, said in
 * the log: a database user without CREATE ROUTINE, or a migration that could not create them, is not an error.
 */
export async function chooseWriteStrategy(
  db: Db,
  pipeline: WritePipeline,
  committed: Committed,
  logger: Logger,
): Promise<WriteStrategy> {
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
  if (missing.length === 0) return procedureStrategy(db, pipeline, committed);
  logger.warn(
    { missing },
    `write procedures ${missing.join(', ')} are not installed (the database user may lack CREATE ROUTINE): ` +
      'single writes run as plain transactions, with more round trips',
  );
  return transactionStrategy(pipeline);
}
