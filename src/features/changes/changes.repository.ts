import type { Row, Sql } from '../../platform/db/sql';

export type ChangeType = 'put' | 'delete' | 'expire';

/** One change to one key, as the outbox records it in the write's own transaction. */
export interface Change {
  revision: number;
  /** Its place among the changes of its revision. */
  seq: number;
  type: ChangeType;
  key: string;
  /** The size and expiry of the object written (a put) or removed. */
  size: number;
  expiresAt: number | null;
  metadata: string | null;
  /** A put's value (compact JSON); read only when asked for. */
  value?: string | null;
}

/** Keys in [from, to): only changes under a prefix. */
export interface KeyRange {
  from: string;
  to: string | undefined;
}

const placeholders = (n: number): string => Array<string>(n).fill('?').join(', ');

/** SQL on the outbox (changes) and its per-tenant floors; decides nothing. */
export class ChangesRepository {
  constructor(private readonly sql: Sql) {}

  /** Records changes, in the caller's transaction. */
  async append(tenantId: number, changes: Change[], nowMs: number): Promise<void> {
    if (changes.length === 0) return;
    const rows = changes.map((c) => ({
      tenant_id: tenantId,
      revision: c.revision,
      seq: c.seq,
      type: c.type,
      k: c.key,
      size: c.size,
      expires_at: c.expiresAt,
      metadata: c.metadata,
      value: c.value ?? null,
      created_at: nowMs,
    }));
    await this.sql.insert('changes', rows);
  }

  /** Up to `limit` changes of a tenant after `since`, in order, optionally under a prefix and with values. */
  async after(
    tenantId: number,
    since: number,
    limit: number,
    options: { range?: KeyRange; values: boolean },
  ): Promise<Change[]> {
    const bindings: unknown[] = [tenantId, since];
    let where = 'tenant_id = ? AND revision > ?';
    if (options.range) {
      where += ' AND k >= ?';
      bindings.push(options.range.from);
      if (options.range.to !== undefined) {
        where += ' AND k < ?';
        bindings.push(options.range.to);
      }
    }
    const columns = `revision, seq, type, k, size, expires_at, metadata${options.values ? ', value' : ''}`;
    const rows = await this.sql.select(`SELECT ${columns} FROM changes WHERE ${where} ORDER BY revision, seq LIMIT ?`, [
      ...bindings,
      limit,
    ]);
    return rows.map((row) => this.change(row));
  }

  /**
   * The keys changed after each tenant's revision in `from`, with the revision of each change: at most `limit`
   * rows over all the tenants, in no particular order (undefined: more than that).
   */
  async keysAfter(
    from: Map<number, number>,
    limit: number,
  ): Promise<{ tenantId: number; revision: number; key: string }[] | undefined> {
    const found: { tenantId: number; revision: number; key: string }[] = [];
    const tenants = [...from];
    const per = Math.floor((this.sql.dialect.maxBindings - 1) / 2);
    for (let i = 0; i < tenants.length; i += per) {
      const slice = tenants.slice(i, i + per);
      const rows = await this.sql.select(
        `SELECT tenant_id, revision, k FROM changes WHERE ${slice.map(() => '(tenant_id = ? AND revision > ?)').join(' OR ')} LIMIT ?`,
        [...slice.flat(), limit + 1 - found.length],
      );
      if (found.length + rows.length > limit) return undefined;
      for (const row of rows) {
        found.push({
          tenantId: Number(row.tenant_id),
          revision: Number(row.revision),
          key: this.sql.dialect.keyText(row.k),
        });
      }
    }
    return found;
  }

  /** Every change of one revision, in order. */
  async ofRevision(tenantId: number, revision: number, values: boolean): Promise<Change[]> {
    const columns = `revision, seq, type, k, size, expires_at, metadata${values ? ', value' : ''}`;
    const rows = await this.sql.select(
      `SELECT ${columns} FROM changes WHERE tenant_id = ? AND revision = ? ORDER BY seq`,
      [tenantId, revision],
    );
    return rows.map((row) => this.change(row));
  }

  /** The newest revision of each tenant whose changes retention has dropped (absent: none dropped yet). */
  async floors(tenantIds: number[]): Promise<Map<number, number>> {
    const floors = new Map<number, number>();
    for (const slice of this.slices(tenantIds)) {
      const rows = await this.sql.select(
        `SELECT tenant_id, floor FROM change_floors WHERE tenant_id IN (${placeholders(slice.length)})`,
        slice,
      );
      for (const r of rows) floors.set(Number(r.tenant_id), Number(r.floor));
    }
    return floors;
  }

  /** The current revision of each of these tenants (deleted or absent ones are left out). */
  async revisions(tenantIds: number[]): Promise<Map<number, number>> {
    const revisions = new Map<number, number>();
    for (const slice of this.slices(tenantIds)) {
      const rows = await this.sql.select(
        `SELECT id, revision FROM tenants WHERE deleted = 0 AND id IN (${placeholders(slice.length)})`,
        slice,
      );
      for (const r of rows) revisions.set(Number(r.id), Number(r.revision));
    }
    return revisions;
  }

  /**
   * One bounded step of retention, in the caller's transaction: the tenants of the oldest `limit` changes created
   * before `beforeMs`, each losing every change up to the newest of those revisions, its floor raised to it (so a
   * tenant's retained changes always run without a gap from its floor). Returns how many changes went.
   */
  async trimOlderThan(beforeMs: number, limit: number): Promise<number> {
    const rows = await this.sql.select(
      'SELECT tenant_id, revision FROM changes WHERE created_at < ? ORDER BY created_at LIMIT ?',
      [beforeMs, limit],
    );
    const floors = new Map<number, number>();
    for (const r of rows) {
      const tenant = Number(r.tenant_id);
      floors.set(tenant, Math.max(floors.get(tenant) ?? 0, Number(r.revision)));
    }
    let removed = 0;
    for (const [tenant, floor] of floors) {
      removed += (await this.sql.execute('DELETE FROM changes WHERE tenant_id = ? AND revision <= ?', [tenant, floor]))
        .affectedRows;
      await this.raiseFloor(tenant, floor);
    }
    return removed;
  }

  /** One bounded step of the row cap: trims as retention does, past the newest `keep` changes. */
  async trimBeyond(keep: number, limit: number): Promise<number> {
    const [edge] = await this.sql.select('SELECT created_at FROM changes ORDER BY created_at DESC LIMIT 1 OFFSET ?', [
      keep,
    ]);
    if (!edge) return 0;
    return this.trimOlderThan(Number(edge.created_at) + 1, limit);
  }

  /** A deleted tenant's change records, floor and stream leases, a bounded chunk of records at a time. */
  async eraseTenant(tenantId: number, chunk: number): Promise<void> {
    for (;;) {
      // By (revision, seq): one revision (a batch) can hold more records than a chunk.
      const [edge] = await this.sql.select(
        'SELECT revision, seq FROM changes WHERE tenant_id = ? ORDER BY revision, seq LIMIT 1 OFFSET ?',
        [tenantId, chunk],
      );
      if (!edge) break;
      await this.sql.execute(
        'DELETE FROM changes WHERE tenant_id = ? AND (revision < ? OR (revision = ? AND seq < ?))',
        [tenantId, edge.revision, edge.revision, edge.seq],
      );
    }
    await this.sql.execute('DELETE FROM changes WHERE tenant_id = ?', [tenantId]);
    await this.sql.execute('DELETE FROM change_floors WHERE tenant_id = ?', [tenantId]);
    await this.sql.execute('DELETE FROM feed_watchers WHERE tenant_id = ?', [tenantId]);
  }

  /** Floors only rise: another trimmer may have raised this one further meanwhile. */
  private async raiseFloor(tenantId: number, floor: number): Promise<void> {
    const raised = await this.sql.execute('UPDATE change_floors SET floor = ? WHERE tenant_id = ? AND floor < ?', [
      floor,
      tenantId,
      floor,
    ]);
    if (raised.affectedRows > 0) return;
    try {
      await this.sql.execute('INSERT INTO change_floors (tenant_id, floor) VALUES (?, ?)', [tenantId, floor]);
    } catch (err) {
      // It exists: at this floor or above.
      if (this.sql.dialect.classify(err) !== 'duplicate_key') throw err;
    }
  }

  /** Tenant ids in slices small enough for one statement's bound parameters (the read cache follows many). */
  private slices(ids: number[]): number[][] {
    const per = this.sql.dialect.maxBindings;
    const slices: number[][] = [];
    for (let i = 0; i < ids.length; i += per) slices.push(ids.slice(i, i + per));
    return slices;
  }

  private change(row: Row): Change {
    return {
      revision: Number(row.revision),
      seq: Number(row.seq),
      type: String(row.type) as ChangeType,
      key: this.sql.dialect.keyText(row.k),
      size: Number(row.size),
      expiresAt: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
      metadata: (row.metadata as string | null) ?? null,
      ...(row.value !== undefined ? { value: (row.value as string | null) ?? null } : {}),
    };
  }
}
