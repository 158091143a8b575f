import type { UnitOfWork } from '../../platform/db/unit-of-work';
import type { LedgerRepository } from '../quota';
import type { KeyRange, ObjectsRepository } from './objects.repository';
import type { LockedRow, ObjectWrite, Precondition, WriteCommand, WriteOutcome } from './write-model';
import { WriteUnit, keysOf } from './write-unit';

/** The repositories a write needs, bound to its transaction. */
export interface WriteRepositories {
  ledger: LedgerRepository;
  objects: ObjectsRepository;
}

/** How many expired rows one reclaim step removes, so that no statement holds locks on many rows. */
export const RECLAIM_CHUNK = 1000;
/** A write refused for quota first reclaims at most this many chunks of the tenant's expired objects. */
const RECLAIM_MAX_CHUNKS = 100;

const NO_TENANT: WriteOutcome = { status: 'no_tenant' };

/** What one chunk of a range deletion did. */
export interface RangeChunk {
  /** Rows removed, expired ones included; fewer than the chunk's size means the range is done. */
  removed: number;
  /** Live objects among them. */
  deleted: number;
  /** The last key removed, where the next chunk starts. */
  lastKey: string | undefined;
}

/**
 * Every change to a tenant's objects, as one story told in one transaction:
 *   1. lock the tenant's row (writers of a tenant queue here);
 *   2. read the rows the commands touch, with a locking read;
 *   3. decide each command in order (write-unit.ts): its preconditions, then the quota (ledgerAllows, the only
 *      place the rule is written), and give it the tenant's next revision;
 *   4. refused for quota: give the tenant back the space its expired objects hold, and decide again;
 *   5. write the objects, move the ledger by exactly what was written and removed, and the revision by as many
 *      as were taken.
 * Put, batch, delete, batch and range deletes, the purge, the reclaim and tenant deletion all go through it. A
 * transaction that changes nothing writes nothing, the tenant's row included.
 */
export class WritePipeline {
  constructor(private readonly uow: UnitOfWork<WriteRepositories>) {}

  /** Runs commands of one tenant in one transaction, decided in order, each with its own outcome. */
  run(tenantId: number, commands: WriteCommand[], now: number): Promise<WriteOutcome[]> {
    return this.uow.run(async ({ ledger, objects }) => {
      const tenant = await ledger.lock(tenantId, 'live');
      if (!tenant) return commands.map(() => NO_TENANT);
      const unit = new WriteUnit(tenant, await objects.lockKeys(tenantId, keysOf(commands)), now);
      let reclaimed = false;
      const outcomes = [];
      for (const command of commands) {
        let outcome = unit.decide(command);
        if (outcome.status === 'quota_exceeded' && !reclaimed) {
          // The tenant may be holding space in objects it can no longer see: give it back, then decide again.
          reclaimed = true;
          await reclaimExpired(objects, tenantId, now, unit);
          outcome = unit.decide(command);
        }
        outcomes.push(outcome);
      }
      await write(ledger, objects, tenantId, unit);
      return outcomes;
    });
  }

  async put(tenantId: number, writes: ObjectWrite[], now: number): Promise<WriteOutcome> {
    const [outcome] = await this.run(tenantId, [{ kind: 'put', writes }], now);
    return outcome;
  }

  async delete(tenantId: number, keys: string[], now: number, precondition?: Precondition): Promise<WriteOutcome> {
    const [outcome] = await this.run(tenantId, [{ kind: 'delete', keys, precondition }], now);
    return outcome;
  }

  /** Deletes up to `limit` of a range's objects after `after`, in one transaction and one revision. */
  deleteRangeChunk(tenantId: number, range: KeyRange, after: string | undefined, limit: number, now: number) {
    return this.removeChunk(tenantId, now, (objects) => objects.lockRange(tenantId, range, after, limit));
  }

  /**
   * Purges one chunk of expired objects of the tenant whose turn it is, refunding them in the same transaction.
   * Returns how many objects it removed: 0 when nothing has expired.
   */
  async purgeExpiredChunk(now: number, chunkRows: number): Promise<number> {
    const tenantId = await this.uow.run(({ objects }) => objects.nextExpiredTenant(now));
    if (tenantId === undefined) return 0;
    return (await this.removeChunk(tenantId, now, (objects) => objects.lockExpired(tenantId, now, chunkRows), 'any'))
      .removed;
  }

  /** Removes up to `chunkRows` of a tenant's objects, whatever their expiry, refunding them: tenant deletion. */
  async removeTenantChunk(tenantId: number, chunkRows: number, now: number): Promise<number> {
    return (await this.removeChunk(tenantId, now, (objects) => objects.lockAny(tenantId, chunkRows), 'any')).removed;
  }

  private removeChunk(
    tenantId: number,
    now: number,
    pick: (objects: ObjectsRepository) => Promise<LockedRow[]>,
    which: 'live' | 'any' = 'live',
  ): Promise<RangeChunk> {
    return this.uow.run(async ({ ledger, objects }) => {
      const tenant = await ledger.lock(tenantId, which);
      if (!tenant) return { removed: 0, deleted: 0, lastKey: undefined };
      const rows = await pick(objects);
      const unit = new WriteUnit(tenant, new Map(rows.map((r) => [r.key, r])), now);
      const outcome = unit.decide({ kind: 'delete', keys: rows.map((r) => r.key) });
      await write(ledger, objects, tenantId, unit);
      return {
        removed: rows.length,
        deleted: outcome.status === 'written' ? outcome.deleted : 0,
        lastKey: rows.at(-1)?.key,
      };
    });
  }
}

/** Writes what the unit decided: objects, deletions, and the tenant's row, only if anything changed. */
async function write(
  ledger: LedgerRepository,
  objects: ObjectsRepository,
  tenantId: number,
  unit: WriteUnit,
): Promise<void> {
  const changes = unit.changes();
  if (changes.revisions === 0) return;
  if (changes.deletes.length > 0) await objects.remove(tenantId, changes.deletes);
  if (changes.upserts.length > 0) await objects.write(tenantId, changes.upserts);
  await ledger.advance(tenantId, changes, changes.revisions);
}

/** Removes the tenant's expired objects, a bounded chunk at a time, then tells the unit what went. */
async function reclaimExpired(
  objects: ObjectsRepository,
  tenantId: number,
  now: number,
  unit: WriteUnit,
): Promise<void> {
  const removed: LockedRow[] = [];
  for (let chunk = 0; chunk < RECLAIM_MAX_CHUNKS; chunk++) {
    const rows = await objects.lockExpired(tenantId, now, RECLAIM_CHUNK);
    if (rows.length > 0) {
      await objects.remove(
        tenantId,
        rows.map((r) => r.key),
      );
      removed.push(...rows);
    }
    if (rows.length < RECLAIM_CHUNK) break;
  }
  unit.reclaimed(removed);
}
