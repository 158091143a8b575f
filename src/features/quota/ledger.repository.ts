import type { Sql } from '../../platform/db/sql';
import type { Ledger } from './quota-rules';

/** A tenant's row, locked by the transaction that holds it: the ledger it read and the revision it is at. */
export interface LockedTenant extends Ledger {
  objects: number;
  revision: number;
  /** Versions kept per key (0: no history), and the bytes they hold (part of `utilised`). */
  historyDepth: number;
  historyBytes: number;
}

/**
 * What one write transaction does to the ledger: bytes (all stored bytes) and objects added (negative: removed),
 * and of those bytes, the history's.
 */
export interface LedgerChange {
  bytes: number;
  historyBytes: number;
  objects: number;
}

export interface Quota {
  provisioned: number;
  utilised: number;
  /** How many objects the tenant stores (expired ones until they are purged). */
  objects: number;
  /** The tenant's current revision: every change to its objects takes the next one. */
  revision: number;
  /** Bytes held by kept versions (part of `utilised`). */
  historyBytes: number;
}

const LEDGER = 'provisioned, utilised, object_count, revision, history_depth, history_bytes';
const LOCK_LIVE = `SELECT ${LEDGER} FROM tenants WHERE id = ? AND deleted = 0`;
const LOCK_ANY = `SELECT ${LEDGER} FROM tenants WHERE id = ?`;
const ADVANCE =
  'UPDATE tenants SET utilised = utilised + ?, history_bytes = history_bytes + ?, object_count = object_count + ?, ' +
  'revision = revision + ? WHERE id = ?';
const QUOTA = `SELECT ${LEDGER} FROM tenants WHERE id = ? AND deleted = 0`;

/**
 * SQL on the ledger columns of tenants (provisioned, utilised, object_count, revision). Every transaction that
 * changes a tenant's objects locks the tenant's row first, so writers of one tenant queue on it and the lock
 * order is the same everywhere (tenant, then objects); and it changes that row, so that a multi-primary cluster
 * sees two such transactions on different nodes conflict.
 */
export class LedgerRepository {
  private readonly lockLive: string;
  private readonly lockAny: string;

  constructor(private readonly sql: Sql) {
    this.lockLive = LOCK_LIVE + sql.dialect.forUpdate;
    this.lockAny = LOCK_ANY + sql.dialect.forUpdate;
  }

  /**
   * Locks the tenant's row. A tenant marked deleted is as good as gone for writes (`live`): its objects are
   * being removed and nothing may be added; the removal itself locks it all the same.
   */
  async lock(tenantId: number, which: 'live' | 'any'): Promise<LockedTenant | undefined> {
    const [row] = await this.sql.select(which === 'live' ? this.lockLive : this.lockAny, [tenantId]);
    if (!row) return undefined;
    return {
      provisioned: Number(row.provisioned),
      utilised: Number(row.utilised),
      objects: Number(row.object_count),
      revision: Number(row.revision),
      historyDepth: Number(row.history_depth),
      historyBytes: Number(row.history_bytes),
    };
  }

  /** Records changes to the tenant's objects: the ledger moves by `change`, the revision by `revisions`. */
  async advance(tenantId: number, change: LedgerChange, revisions: number): Promise<void> {
    await this.sql.execute(ADVANCE, [change.bytes, change.historyBytes, change.objects, revisions, tenantId]);
  }

  async quota(tenantId: number): Promise<Quota | undefined> {
    const [row] = await this.sql.select(QUOTA, [tenantId]);
    return row
      ? {
          provisioned: Number(row.provisioned),
          utilised: Number(row.utilised),
          objects: Number(row.object_count),
          revision: Number(row.revision),
          historyBytes: Number(row.history_bytes),
        }
      : undefined;
  }
}

/** Constant SQL the benchmark's baselines run as the service does. */
export const LEDGER_SQL = { lockLive: LOCK_LIVE, advance: ADVANCE } as const;
