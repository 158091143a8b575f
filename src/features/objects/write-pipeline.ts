import type { UnitOfWork } from '../../platform/db/unit-of-work';
import { ledgerAllows, type LedgerChange, type LedgerRepository, type LockedTenant } from '../quota';
import type { LockedRow, ObjectWrite, ObjectsRepository } from './objects.repository';

/** What a write did; the HTTP layer maps each to a status (objects.controller.ts). */
export type WriteOutcome = { status: 'written' } | { status: 'quota_exceeded' } | { status: 'no_tenant' };

/** The repositories a write needs, bound to its transaction. */
export interface WriteRepositories {
  ledger: LedgerRepository;
  objects: ObjectsRepository;
}

/** How many expired rows one reclaim step removes, so that no statement holds locks on many rows. */
export const RECLAIM_CHUNK = 1000;
/** A write refused for quota first reclaims at most this many chunks of the tenant's expired objects. */
const RECLAIM_MAX_CHUNKS = 100;

const WRITTEN: WriteOutcome = { status: 'written' };
const QUOTA_EXCEEDED: WriteOutcome = { status: 'quota_exceeded' };
const NO_TENANT: WriteOutcome = { status: 'no_tenant' };

/**
 * Every change to a tenant's objects, as one story told in one transaction:
 *   1. lock the tenant's row (writers of a tenant queue here);
 *   2. read the old state of the rows the write replaces, with a locking read;
 *   3. decide the quota (ledgerAllows, the only place the rule is written);
 *   4. refused: give the tenant back the space its expired objects hold, and decide again;
 *   5. write the objects;
 *   6. move the ledger by exactly what was written and removed, and the tenant's revision by one.
 * Put, batch, delete, the purge, the reclaim and tenant deletion all go through it. A transaction that changes
 * nothing (a refused write with nothing to reclaim, a delete of a missing key) writes nothing, the tenant's row
 * included.
 */
export class WritePipeline {
  constructor(private readonly uow: UnitOfWork<WriteRepositories>) {}

  /** Creates or replaces `writes` (distinct keys): all of them, or none if the quota refuses. */
  put(tenantId: number, writes: ObjectWrite[], now: number): Promise<WriteOutcome> {
    return this.uow.run(async ({ ledger, objects }) => {
      const tenant = await ledger.lock(tenantId, 'live');
      if (!tenant) return NO_TENANT;
      const keys = writes.map((w) => w.key);
      let existing = await objects.lockKeys(tenantId, keys);
      let change = putChange(writes, existing);
      const reclaimed: LedgerChange = { bytes: 0, objects: 0 };
      if (!ledgerAllows(tenant, change.bytes)) {
        // The tenant may be holding space in objects it can no longer see: give it back, then decide again.
        add(reclaimed, await reclaimExpired(objects, tenantId, now));
        if (reclaimed.objects === 0) return QUOTA_EXCEEDED;
        existing = await objects.lockKeys(tenantId, keys);
        change = putChange(writes, existing);
        if (!ledgerAllows(afterChange(tenant, reclaimed), change.bytes)) {
          // The reclaim stands on its own; the refusal is the answer either way.
          await ledger.advance(tenantId, reclaimed);
          return QUOTA_EXCEEDED;
        }
      }
      await objects.write(tenantId, writes, existing);
      await ledger.advance(tenantId, add(change, reclaimed));
      return WRITTEN;
    });
  }

  /** Deletes these keys (distinct) and refunds them; keys that are not there are no error. */
  delete(tenantId: number, keys: string[]): Promise<WriteOutcome> {
    return this.uow.run(async ({ ledger, objects }) => {
      if (!(await ledger.lock(tenantId, 'any'))) return NO_TENANT;
      const found = [...(await objects.lockKeys(tenantId, keys)).values()];
      if (found.length > 0) await ledger.advance(tenantId, await removeRows(objects, tenantId, found));
      return WRITTEN;
    });
  }

  /**
   * Purges one chunk of expired objects of the tenant whose turn it is, refunding them in the same transaction.
   * Returns how many objects it removed: 0 when nothing has expired.
   */
  async purgeExpiredChunk(now: number, chunkRows: number): Promise<number> {
    const tenantId = await this.uow.run(({ objects }) => objects.nextExpiredTenant(now));
    if (tenantId === undefined) return 0;
    return this.removeChunk(tenantId, (objects) => objects.lockExpired(tenantId, now, chunkRows));
  }

  /** Removes up to `chunkRows` of a tenant's objects, whatever their expiry, refunding them: tenant deletion. */
  removeTenantChunk(tenantId: number, chunkRows: number): Promise<number> {
    return this.removeChunk(tenantId, (objects) => objects.lockAny(tenantId, chunkRows));
  }

  private removeChunk(tenantId: number, pick: (objects: ObjectsRepository) => Promise<LockedRow[]>): Promise<number> {
    return this.uow.run(async ({ ledger, objects }) => {
      if (!(await ledger.lock(tenantId, 'any'))) return 0;
      const rows = await pick(objects);
      if (rows.length > 0) await ledger.advance(tenantId, await removeRows(objects, tenantId, rows));
      return rows.length;
    });
  }
}

/** What writing `writes` over the `existing` rows does to the ledger. */
function putChange(writes: ObjectWrite[], existing: ReadonlyMap<string, LockedRow>): LedgerChange {
  const change = { bytes: 0, objects: 0 };
  for (const w of writes) {
    const old = existing.get(w.key);
    change.bytes += w.size - (old?.size ?? 0);
    if (old === undefined) change.objects++;
  }
  return change;
}

/** Deletes rows read with a locking read; returns the ledger change that refunds them. */
async function removeRows(objects: ObjectsRepository, tenantId: number, rows: LockedRow[]): Promise<LedgerChange> {
  await objects.remove(
    tenantId,
    rows.map((r) => r.key),
  );
  return { bytes: -rows.reduce((sum, r) => sum + r.size, 0), objects: -rows.length };
}

/** Removes the tenant's expired objects, a bounded chunk at a time; returns the ledger change. */
async function reclaimExpired(objects: ObjectsRepository, tenantId: number, now: number): Promise<LedgerChange> {
  const total = { bytes: 0, objects: 0 };
  for (let chunk = 0; chunk < RECLAIM_MAX_CHUNKS; chunk++) {
    const rows = await objects.lockExpired(tenantId, now, RECLAIM_CHUNK);
    if (rows.length > 0) add(total, await removeRows(objects, tenantId, rows));
    if (rows.length < RECLAIM_CHUNK) break;
  }
  return total;
}

function add(into: LedgerChange, change: LedgerChange): LedgerChange {
  into.bytes += change.bytes;
  into.objects += change.objects;
  return into;
}

function afterChange(tenant: LockedTenant, change: LedgerChange): LockedTenant {
  return { ...tenant, utilised: tenant.utilised + change.bytes, objects: tenant.objects + change.objects };
}
