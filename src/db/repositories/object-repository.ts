import type { Knex } from 'knex';
import type { Db } from '../knex';
import { callProcedure, inTransaction } from '../transaction';
import { ledgerAllows } from '../../service/quota-rules';

export interface StoredObject {
  value: string;
  /** Unix seconds, or null for never. */
  expiresAt: number | null;
}

/** One object to write: `value` is its compact JSON text and `size` that text's UTF-8 byte length. */
export interface ObjectWrite {
  key: string;
  value: string;
  size: number;
  expiresAt: number | null;
}

export type WriteOutcome = 'written' | 'quota_exceeded' | 'no_tenant';

interface LockedTenant {
  provisioned: number;
  utilised: number;
}

const GET_ONE = 'SELECT value, expires_at FROM objects WHERE tenant_id = ? AND k = ?';

/** How many expired rows one reclaim or purge step removes, so no statement holds locks for long. */
const RECLAIM_CHUNK = 1000;
/** A write refused for quota first reclaims at most this many chunks of the tenant's expired objects. */
const RECLAIM_MAX_CHUNKS = 100;

/**
 * All SQL on objects and on the ledger columns of tenants. Every transaction that changes a tenant's objects
 * locks that tenant's row first: writers of one tenant queue on it, so the sizes read under the lock are the
 * sizes replaced, and lock order is the same everywhere (tenant, then objects), which keeps deadlocks rare.
 */
export class ObjectRepository {
  private readonly lockTenantSql: string;
  private readonly lockTenantAndKeySql: string;
  private readonly lockAnyTenantSql: string;
  private procedures: Promise<boolean> | undefined;

  constructor(private readonly db: Db) {
    const forUpdate = db.dialect.forUpdate;
    // A tenant marked deleted is as good as gone: its objects are being removed and nothing may be added.
    this.lockTenantSql = `SELECT provisioned, utilised FROM tenants WHERE id = ? AND deleted = 0${forUpdate}`;
    this.lockTenantAndKeySql =
      'SELECT t.provisioned, t.utilised, o.size AS old_size FROM tenants t ' +
      `LEFT JOIN objects o ON o.tenant_id = t.id AND o.k = ? WHERE t.id = ? AND t.deleted = 0${forUpdate}`;
    this.lockAnyTenantSql = `SELECT id FROM tenants WHERE id = ?${forUpdate}`;
  }

  /**
   * Whether this database has the write procedures (MySQL, with the privilege to create them): looked up once.
   * Without them, writes run as ordinary transactions below — the same rules, more round trips.
   */
  private hasProcedures(): Promise<boolean> {
    this.procedures ??= this.db.dialect.hasProcedures
      ? this.db.knex
          .raw(
            `SELECT COUNT(*) AS n FROM information_schema.ROUTINES
             WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME IN ('tenantkv_put', 'tenantkv_delete')`,
          )
          .then(
            (result) => Number(this.db.dialect.rowsOf(result)[0]?.n) === 2,
            (err: unknown) => {
              this.procedures = undefined;
              throw err;
            },
          )
      : Promise.resolve(false);
    return this.procedures;
  }

  async get(tenantId: number, key: string): Promise<StoredObject | undefined> {
    // Constant SQL: the hottest statement skips the query builder.
    const [row] = await this.db.dialect.run(this.db.knex, GET_ONE, [tenantId, key]);
    return row ? { value: row.value as string, expiresAt: toNumberOrNull(row.expires_at) } : undefined;
  }

  /** Creates or replaces one object, charging only the size difference; refuses what would pass the quota. */
  async put(tenantId: number, write: ObjectWrite, now: number): Promise<WriteOutcome> {
    if (await this.hasProcedures()) {
      const [resultSet] = await callProcedure(this.db, 'CALL tenantkv_put(?, ?, ?, ?, ?)', [
        ...[tenantId, write.key, write.value, write.size, write.expiresAt],
      ]);
      const [outcome] = resultSet as Record<string, unknown>[];
      if (!Number(outcome.tenant)) return 'no_tenant';
      if (Number(outcome.ok)) return 'written';
      // Refused: the path below reclaims the tenant's expired objects, if any, and decides again.
    }
    return inTransaction(this.db, async (trx) => {
      const [row] = await rows(trx.raw(this.lockTenantAndKeySql, [write.key, tenantId]), this.db);
      if (!row) return 'no_tenant';
      const oldSize = toNumberOrNull(row.old_size);
      const existing = new Map<string, number>(oldSize === null ? [] : [[write.key, oldSize]]);
      return this.applyWrites(trx, tenantId, lockedTenant(row), [write], existing, now);
    });
  }

  /** Creates or replaces many objects in one transaction: all of them, or none if the quota refuses. */
  async putMany(tenantId: number, writes: ObjectWrite[], now: number): Promise<WriteOutcome> {
    return inTransaction(this.db, async (trx) => {
      const [row] = await rows(trx.raw(this.lockTenantSql, [tenantId]), this.db);
      if (!row) return 'no_tenant';
      const existing = await this.existingSizes(
        trx,
        tenantId,
        writes.map((w) => w.key),
      );
      return this.applyWrites(trx, tenantId, lockedTenant(row), writes, existing, now);
    });
  }

  /** Deletes one object and refunds its size; a missing key is not an error. */
  async delete(tenantId: number, key: string): Promise<void> {
    if (await this.hasProcedures()) {
      await callProcedure(this.db, 'CALL tenantkv_delete(?, ?)', [tenantId, key]);
      return;
    }
    await inTransaction(this.db, async (trx) => {
      const [row] = await rows(trx.raw(this.lockTenantAndKeySql, [key, tenantId]), this.db);
      const oldSize = row ? toNumberOrNull(row.old_size) : null;
      if (oldSize === null) return;
      await trx('objects').where({ tenant_id: tenantId, k: key }).delete();
      await this.adjustLedger(trx, tenantId, -oldSize, -1);
    });
  }

  /**
   * Purges one chunk of expired objects of one tenant whose turn it is, refunding them in the same
   * transaction. Returns the number of objects removed, 0 when nothing has expired.
   */
  async purgeExpiredChunk(now: number, chunkRows: number): Promise<number> {
    const next = await this.db.knex('objects').first('tenant_id').where('expires_at', '<=', now).orderBy('expires_at');
    if (!next) return 0;
    const tenantId = Number(next.tenant_id);
    return inTransaction(this.db, async (trx) => {
      const [row] = await rows(trx.raw(this.lockAnyTenantSql, [tenantId]), this.db);
      if (!row) return 0;
      return (await this.removeChunk(trx, tenantId, chunkRows, now)).removed;
    });
  }

  /** Removes up to `chunkRows` objects of a tenant, whatever their expiry, refunding them; for tenant deletion. */
  async removeTenantChunk(tenantId: number, chunkRows: number): Promise<number> {
    return inTransaction(this.db, async (trx) => {
      const [row] = await rows(trx.raw(this.lockAnyTenantSql, [tenantId]), this.db);
      if (!row) return 0;
      return (await this.removeChunk(trx, tenantId, chunkRows)).removed;
    });
  }

  private async applyWrites(
    trx: Knex.Transaction,
    tenantId: number,
    tenant: LockedTenant,
    writes: ObjectWrite[],
    existing: Map<string, number>,
    now: number,
  ): Promise<WriteOutcome> {
    let { bytes, objects } = ledgerChange(writes, existing);
    if (!ledgerAllows(tenant.provisioned, tenant.utilised, bytes)) {
      // The tenant may be holding space in objects it can no longer see: give it back, then decide again.
      const reclaimed = await this.reclaimAllExpired(trx, tenantId, now);
      if (reclaimed === 0) return 'quota_exceeded';
      tenant = { provisioned: tenant.provisioned, utilised: tenant.utilised - reclaimed };
      existing = await this.existingSizes(
        trx,
        tenantId,
        writes.map((w) => w.key),
      );
      ({ bytes, objects } = ledgerChange(writes, existing));
      if (!ledgerAllows(tenant.provisioned, tenant.utilised, bytes)) {
        // Keep the reclaim: it is correct on its own, and the refusal is the answer either way.
        return 'quota_exceeded';
      }
    }
    await this.adjustLedger(trx, tenantId, bytes, objects);
    if (writes.length === 1) {
      const [w] = writes;
      const columns = { value: w.value, size: w.size, expires_at: w.expiresAt };
      if (existing.has(w.key)) await trx('objects').update(columns).where({ tenant_id: tenantId, k: w.key });
      else await trx('objects').insert({ tenant_id: tenantId, k: w.key, ...columns });
      return 'written';
    }
    const records = writes.map((w) => ({
      tenant_id: tenantId,
      k: w.key,
      value: w.value,
      size: w.size,
      expires_at: w.expiresAt,
    }));
    // One multi-row statement on MySQL; SQLite takes fewer rows per statement, so there the batch is split,
    // still inside this one transaction.
    await this.db.dialect.upsert(trx, 'objects', records, ['tenant_id', 'k'], ['value', 'size', 'expires_at']);
    return 'written';
  }

  private async existingSizes(trx: Knex.Transaction, tenantId: number, keys: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    const perStatement = this.db.dialect.maxBindings - 1;
    for (let i = 0; i < keys.length; i += perStatement) {
      const found = await trx('objects')
        .select('k', 'size')
        .where('tenant_id', tenantId)
        .whereIn('k', keys.slice(i, i + perStatement));
      for (const r of found) sizes.set(keyText(r.k), Number(r.size));
    }
    return sizes;
  }

  private async reclaimAllExpired(trx: Knex.Transaction, tenantId: number, now: number): Promise<number> {
    let freed = 0;
    for (let chunk = 0; chunk < RECLAIM_MAX_CHUNKS; chunk++) {
      const step = await this.removeChunk(trx, tenantId, RECLAIM_CHUNK, now);
      freed += step.bytes;
      if (step.removed < RECLAIM_CHUNK) break;
    }
    return freed;
  }

  /**
   * Deletes up to `limit` objects of a tenant whose row the caller has locked — only those expired by
   * `expiredBy` when it is given — and refunds them.
   */
  private async removeChunk(
    trx: Knex.Transaction,
    tenantId: number,
    limit: number,
    expiredBy?: number,
  ): Promise<{ removed: number; bytes: number }> {
    const query = trx('objects').select('k', 'size').where('tenant_id', tenantId).limit(limit);
    if (expiredBy !== undefined) {
      query.andWhere('expires_at', '<=', expiredBy).orderBy([{ column: 'expires_at' }, { column: 'k' }]);
    }
    const chunk = await query;
    if (chunk.length === 0) return { removed: 0, bytes: 0 };
    const bytes = chunk.reduce((sum, r) => sum + Number(r.size), 0);
    await trx('objects')
      .where('tenant_id', tenantId)
      .whereIn(
        'k',
        chunk.map((r) => r.k),
      )
      .delete();
    await this.adjustLedger(trx, tenantId, -bytes, -chunk.length);
    return { removed: chunk.length, bytes };
  }

  private async adjustLedger(trx: Knex.Transaction, tenantId: number, bytes: number, objects: number): Promise<void> {
    if (bytes === 0 && objects === 0) return;
    await trx('tenants')
      .update({ utilised: trx.raw('utilised + ?', [bytes]), object_count: trx.raw('object_count + ?', [objects]) })
      .where('id', tenantId);
  }
}

/** What writing `writes` over the `existing` sizes does to the ledger. */
function ledgerChange(writes: ObjectWrite[], existing: Map<string, number>): { bytes: number; objects: number } {
  let bytes = 0;
  let objects = 0;
  for (const w of writes) {
    const old = existing.get(w.key);
    bytes += w.size - (old ?? 0);
    if (old === undefined) objects++;
  }
  return { bytes, objects };
}

function lockedTenant(row: Record<string, unknown>): LockedTenant {
  return { provisioned: Number(row.provisioned), utilised: Number(row.utilised) };
}

function toNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Keys come back as Buffers from MySQL's binary column and as strings from SQLite. */
function keyText(k: unknown): string {
  return Buffer.isBuffer(k) ? k.toString('utf8') : String(k);
}

async function rows(query: Knex.Raw, db: Db): Promise<Record<string, unknown>[]> {
  return db.dialect.rowsOf(await query);
}
