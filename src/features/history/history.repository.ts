import type { Row, Sql } from '../../platform/db/sql';

/** A version kept in a key's history: a replaced object, or the tombstone of a delete (`deleted`, no value). */
export interface HistoryEntry {
  key: string;
  version: number;
  value: string | null;
  metadata: string | null;
  /** Bytes it is charged: the value's and the metadata's; 0 for a tombstone. */
  size: number;
  expiresAt: number | null;
  writtenAtMs: number | null;
  deleted: boolean;
}

/** Where a kept version is, and what it weighs: enough to trim or evict it. */
export interface HistoryRef {
  key: string;
  version: number;
  size: number;
  deleted: boolean;
}

const placeholders = (n: number): string => Array<string>(n).fill('?').join(', ');
const REF = 'k, version, size, deleted';

/** SQL on object_history, and nothing else; the caller holds the tenant's lock for every change. */
export class HistoryRepository {
  constructor(private readonly sql: Sql) {}

  /** Every kept version of these keys, locked, oldest first. */
  async lockKeys(tenantId: number, keys: string[]): Promise<HistoryRef[]> {
    if (keys.length === 0) return [];
    const rows = await this.sql.select(
      `SELECT ${REF} FROM object_history WHERE tenant_id = ? AND k IN (${placeholders(keys.length)}) ` +
        `ORDER BY version${this.sql.dialect.forUpdate}`,
      [tenantId, ...keys],
    );
    return rows.map((r) => this.ref(r));
  }

  /**
   * The tenant's oldest kept versions across all its keys (lowest version first; a batch's keys share one), after
   * `after`, locked.
   */
  async lockOldest(tenantId: number, after: HistoryRef | undefined, limit: number): Promise<HistoryRef[]> {
    const [where, bindings] = after
      ? ['AND (version > ? OR (version = ? AND k > ?))', [after.version, after.version, after.key]]
      : ['', []];
    const rows = await this.sql.select(
      `SELECT ${REF} FROM object_history WHERE tenant_id = ? ${where} ORDER BY version, k LIMIT ?${this.sql.dialect.forUpdate}`,
      [tenantId, ...bindings, limit],
    );
    return rows.map((r) => this.ref(r));
  }

  async insert(tenantId: number, entries: HistoryEntry[]): Promise<void> {
    await this.sql.insert(
      'object_history',
      entries.map((e) => ({
        tenant_id: tenantId,
        k: e.key,
        version: e.version,
        value: e.value,
        metadata: e.metadata,
        size: e.size,
        expires_at: e.expiresAt,
        written_at: e.writtenAtMs,
        deleted: e.deleted,
      })),
    );
  }

  async remove(tenantId: number, refs: HistoryRef[]): Promise<void> {
    for (const ref of refs) {
      await this.sql.execute('DELETE FROM object_history WHERE tenant_id = ? AND k = ? AND version = ?', [
        tenantId,
        ref.key,
        ref.version,
      ]);
    }
  }

  /** A key's kept versions, newest first, below `before` (a version). */
  async page(tenantId: number, key: string, before: number | undefined, limit: number): Promise<HistoryEntry[]> {
    const rows = await this.sql.select(
      'SELECT k, version, value, metadata, size, expires_at, written_at, deleted FROM object_history ' +
        'WHERE tenant_id = ? AND k = ? AND version < ? ORDER BY version DESC LIMIT ?',
      [tenantId, key, before ?? Number.MAX_SAFE_INTEGER, limit],
    );
    return rows.map((r) => this.entry(r));
  }

  async version(tenantId: number, key: string, version: number): Promise<HistoryEntry | undefined> {
    const [row] = await this.sql.select(
      'SELECT k, version, value, metadata, size, expires_at, written_at, deleted FROM object_history ' +
        'WHERE tenant_id = ? AND k = ? AND version = ?',
      [tenantId, key, version],
    );
    return row ? this.entry(row) : undefined;
  }

  private ref(row: Row): HistoryRef {
    return {
      key: this.sql.dialect.keyText(row.k),
      version: Number(row.version),
      size: Number(row.size),
      deleted: Boolean(row.deleted),
    };
  }

  private entry(row: Row): HistoryEntry {
    return {
      key: this.sql.dialect.keyText(row.k),
      version: Number(row.version),
      value: (row.value as string | null) ?? null,
      metadata: (row.metadata as string | null) ?? null,
      size: Number(row.size),
      expiresAt: row.expires_at === null ? null : Number(row.expires_at),
      writtenAtMs: row.written_at === null ? null : Number(row.written_at),
      deleted: Boolean(row.deleted),
    };
  }
}
