import type { UnitOfWork } from '../../platform/db/unit-of-work';
import { countQuotaRefusal } from '../../platform/metrics';
import type { Moment } from '../../platform/clock';
import type { LedgerRepository, LockedTenant } from '../quota';
import type { ChangesRepository } from '../changes';
import type { HistoryRef, HistoryRepository } from '../history';
import type { KeyRange, ObjectsRepository } from './objects.repository';
import type { LockedRow, ObjectWrite, Precondition, WriteCommand, WriteOutcome } from './write-model';
import { WriteUnit, keysOf } from './write-unit';

/** The repositories a write needs, bound to its transaction. */
export interface WriteRepositories {
  ledger: LedgerRepository;
  objects: ObjectsRepository;
  history: HistoryRepository;
  changes: ChangesRepository;
}

/** Hears of each commit that changed objects: the tenant, and the keys its commands named. */
export type Committed = (tenantId: number, keys: readonly string[]) => void;

/** How many expired rows one reclaim step removes, so that no statement holds locks on many rows. */
export const RECLAIM_CHUNK = 1000;
/** A write refused for quota first reclaims at most this many chunks of the tenant's expired objects. */
const RECLAIM_MAX_CHUNKS = 100;
/** Kept versions read at a time when the oldest are evicted to make room. */
const EVICT_CHUNK = 500;

const NO_TENANT: WriteOutcome = { status: 'no_tenant' };
const QUOTA_EXCEEDED: WriteOutcome = { status: 'quota_exceeded' };

/** What one chunk of a range deletion did. */
export interface RangeChunk {
  /** Rows removed, expired ones included; fewer than the chunk's size means the range is done. */
  removed: number;
  /** Live objects among them. */
  deleted: number;
  /** The bytes of the removed rows' values and metadata. */
  bytes: number;
  /** The last key removed, where the next chunk starts. */
  lastKey: string | undefined;
}

/**
 * Every change to a tenant's objects, as one story told in one transaction:
 *   1. lock the tenant's row (writers of a tenant queue here);
 *   2. read the rows the commands touch, and their kept versions, with locking reads;
 *   3. decide each command in order (write-unit.ts): its preconditions, then the quota (ledgerAllows, the only
 *      place the rule is written), and give it the tenant's next revision;
 *   4. refused for quota: give the tenant back the space its expired objects hold, and decide again; then, if
 *      it would fit with no history at all, evict the tenant's oldest kept versions until it does;
 *   5. write the objects, the kept versions and the change records (the outbox the feed reads), move the ledger
 *      by exactly what was written and removed, and the revision by as many as were taken.
 * Put, batch, delete, batch and range deletes, the purge, the reclaim and tenant deletion all go through it. A
 * transaction that changes nothing writes nothing, the tenant's row included. Once one commits, `committed`
 * hears of it and of the keys it touched (the change feed polls at once, the read cache forgets them), before
 * anyone is answered.
 */
export class WritePipeline {
  constructor(
    private readonly uow: UnitOfWork<WriteRepositories>,
    private readonly committed: Committed = () => undefined,
  ) {}

  /** Runs commands of one tenant in one transaction, decided in order, each with its own outcome. */
  async run(tenantId: number, commands: WriteCommand[], at: Moment): Promise<WriteOutcome[]> {
    const keys = keysOf(commands);
    const outcomes = await this.uow.run(async (repos) => {
      const tenant = await repos.ledger.lock(tenantId, 'live');
      if (!tenant) return commands.map(() => NO_TENANT);
      const unit = await openUnit(repos, tenantId, tenant, keys, at);
      let reclaimed = false;
      const decided: WriteOutcome[] = [];
      for (const command of commands) {
        let decision = unit.decide(command);
        if ((decision.status === 'quota_exceeded' || decision.status === 'needs_room') && !reclaimed) {
          // The tenant may be holding space in objects it can no longer see: give it back, then decide again.
          unit.takeBack();
          reclaimed = true;
          await reclaimExpired(repos.objects, tenantId, at.seconds, unit);
          decision = unit.decide(command);
        }
        decided.push(decision.status === 'needs_room' ? await makeRoom(repos.history, tenantId, unit) : decision);
      }
      await write(repos, tenantId, unit, at);
      return decided;
    });
    if (outcomes.some((o) => o.status === 'written')) this.committed(tenantId, keys);
    // Counted here, after the commit: both write strategies end here when a write does not fit.
    for (const outcome of outcomes) if (outcome.status === 'quota_exceeded') countQuotaRefusal(tenantId);
    return outcomes;
  }

  async put(tenantId: number, writes: ObjectWrite[], at: Moment): Promise<WriteOutcome> {
    const [outcome] = await this.run(tenantId, [{ kind: 'put', writes }], at);
    return outcome;
  }

  async delete(tenantId: number, keys: string[], at: Moment, precondition?: Precondition): Promise<WriteOutcome> {
    const [outcome] = await this.run(tenantId, [{ kind: 'delete', keys, precondition }], at);
    return outcome;
  }

  /** Deletes up to `limit` of a range's objects after `after`, in one transaction and one revision. */
  deleteRangeChunk(tenantId: number, range: KeyRange, after: string | undefined, limit: number, at: Moment) {
    return this.removeChunk(tenantId, at, 'delete', 'live', (objects, whole) =>
      objects.lockRange(tenantId, range, after, limit, whole),
    );
  }

  /**
   * Purges one chunk of expired objects of the tenant whose turn it is, refunding them in the same transaction.
   * Says how many objects it removed (0 when nothing has expired) and their bytes.
   */
  async purgeExpiredChunk(at: Moment, chunkRows: number): Promise<{ removed: number; bytes: number }> {
    const tenantId = await this.uow.run(({ objects }) => objects.nextExpiredTenant(at.seconds));
    if (tenantId === undefined) return { removed: 0, bytes: 0 };
    return this.removeChunk(tenantId, at, 'expire', 'any', (objects) =>
      objects.lockExpired(tenantId, at.seconds, chunkRows),
    );
  }

  /** Removes up to `chunkRows` of a tenant's objects, whatever their expiry, refunding them: tenant deletion. */
  async removeTenantChunk(tenantId: number, chunkRows: number, at: Moment): Promise<number> {
    const chunk = await this.removeChunk(tenantId, at, 'erase', 'any', (objects) =>
      objects.lockAny(tenantId, chunkRows),
    );
    return chunk.removed;
  }

  /** Forgets every kept version of one key, refunding exactly their bytes. Returns how many there were. */
  async clearHistory(tenantId: number, key: string): Promise<number> {
    return this.uow.run(async ({ ledger, history }) => {
      if (!(await ledger.lock(tenantId, 'live'))) return 0;
      const refs = await history.lockKeys(tenantId, [key]);
      if (refs.length === 0) return 0;
      await history.remove(tenantId, refs);
      const bytes = refs.reduce((sum, r) => sum + r.size, 0);
      await ledger.advance(tenantId, { bytes: -bytes, historyBytes: -bytes, objects: 0 }, 1);
      return refs.length;
    });
  }

  /** Removes up to `chunkRows` of a tenant's kept versions, refunding them: tenant deletion, after its objects. */
  removeTenantHistoryChunk(tenantId: number, chunkRows: number): Promise<number> {
    return this.uow.run(async ({ ledger, history }) => {
      if (!(await ledger.lock(tenantId, 'any'))) return 0;
      const refs = await history.lockOldest(tenantId, undefined, chunkRows);
      if (refs.length === 0) return 0;
      await history.remove(tenantId, refs);
      const bytes = refs.reduce((sum, r) => sum + r.size, 0);
      await ledger.advance(tenantId, { bytes: -bytes, historyBytes: -bytes, objects: 0 }, 1);
      return refs.length;
    });
  }

  private async removeChunk(
    tenantId: number,
    at: Moment,
    kind: 'delete' | 'expire' | 'erase',
    which: 'live' | 'any',
    pick: (objects: ObjectsRepository, whole: boolean) => Promise<LockedRow[]>,
  ): Promise<RangeChunk> {
    let keys: string[] = [];
    const chunk = await this.uow.run(async (repos) => {
      const tenant = await repos.ledger.lock(tenantId, which);
      if (!tenant) return { removed: 0, deleted: 0, bytes: 0, lastKey: undefined };
      const rows = await pick(repos.objects, kind === 'delete' && tenant.historyDepth > 0);
      keys = rows.map((r) => r.key);
      const history = kind === 'delete' && keepsHistory(tenant) ? await repos.history.lockKeys(tenantId, keys) : [];
      const unit = new WriteUnit(tenant, new Map(rows.map((r) => [r.key, r])), history, at.seconds, at.ms);
      const outcome = unit.decide({ kind, keys });
      await write(repos, tenantId, unit, at);
      return {
        removed: rows.length,
        deleted: outcome.status === 'written' ? outcome.deleted : 0,
        bytes: rows.reduce((sum, r) => sum + r.size, 0),
        lastKey: rows.at(-1)?.key,
      };
    });
    if (chunk.removed > 0 && kind !== 'erase') this.committed(tenantId, keys);
    return chunk;
  }
}

/** A tenant that keeps history now, or still holds some (its depth lowered): its kept versions are read. */
function keepsHistory(tenant: LockedTenant): boolean {
  return tenant.historyDepth > 0 || tenant.historyBytes > 0;
}

async function openUnit(
  repos: WriteRepositories,
  tenantId: number,
  tenant: LockedTenant,
  keys: string[],
  at: Moment,
): Promise<WriteUnit> {
  const rows = await repos.objects.lockKeys(tenantId, keys, tenant.historyDepth > 0);
  const history = keepsHistory(tenant) ? await repos.history.lockKeys(tenantId, keys) : [];
  return new WriteUnit(tenant, rows, history, at.seconds, at.ms);
}

/** Writes what the unit decided: objects, kept versions, change records and the tenant's row, if anything changed. */
async function write(repos: WriteRepositories, tenantId: number, unit: WriteUnit, at: Moment): Promise<void> {
  const c = unit.changes();
  if (c.revisions === 0) return;
  if (c.deletes.length > 0) await repos.objects.remove(tenantId, c.deletes);
  if (c.upserts.length > 0) await repos.objects.write(tenantId, c.upserts);
  if (c.historyDeletes.length > 0) await repos.history.remove(tenantId, c.historyDeletes);
  if (c.historyInserts.length > 0) await repos.history.insert(tenantId, c.historyInserts);
  await repos.changes.append(tenantId, c.changes, at.ms);
  await repos.ledger.advance(tenantId, c, c.revisions);
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

/** Evicts the tenant's oldest kept versions, a chunk at a time, until the waiting command fits. */
async function makeRoom(history: HistoryRepository, tenantId: number, unit: WriteUnit): Promise<WriteOutcome> {
  let after: HistoryRef | undefined;
  for (;;) {
    const chunk = await history.lockOldest(tenantId, after, EVICT_CHUNK);
    const exhausted = chunk.length < EVICT_CHUNK;
    const outcome = unit.evict(chunk, exhausted ? Number.POSITIVE_INFINITY : (chunk.at(-1) as HistoryRef).version);
    if (outcome) return outcome;
    if (exhausted) {
      unit.takeBack();
      return QUOTA_EXCEEDED;
    }
    after = chunk.at(-1);
  }
}
