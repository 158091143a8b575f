import type { Sql } from '../../platform/db/sql';

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

/** A stored object's row as a locking read returned it: what the write it is part of replaces or removes. */
export interface LockedRow {
  key: string;
  size: number;
  expiresAt: number | null;
}

const GET = 'SELECT value, expires_at FROM objects WHERE tenant_id = ? AND k = ?';
const INSERT_ONE = 'INSERT INTO objects (tenant_id, k, value, size, expires_at) VALUES (?, ?, ?, ?, ?)';
const UPDATE_ONE = 'UPDATE objects SET value = ?, size = ?, expires_at = ? WHERE tenant_id = ? AND k = ?';
const NEXT_EXPIRED_TENANT = 'SELECT tenant_id FROM objects WHERE expires_at <= ? ORDER BY expires_at LIMIT 1';

const placeholders = (n: number): string => Array<string>(n).fill('?').join(', ');
/** The rows of `n` keys of a tenant, with the dialect's locking suffix. */
const lockKeysSql = (n: number, forUpdate: string): string =>
  `SELECT k, size, expires_at FROM objects WHERE tenant_id = ? AND k IN (${placeholders(n)})${forUpdate}`;

/**
 * SQL on the objects table, and nothing else: no decision is taken here. Every method that changes rows runs
 * inside the caller's unit of work, after the caller has locked the tenant's row and read the rows it changes
 * with a locking read (`lock…`).
 */
export class ObjectsRepository {
  private readonly lockExpiredSql: string;
  private readonly lockAnySql: string;

  constructor(private readonly sql: Sql) {
    const forUpdate = sql.dialect.forUpdate;
    this.lockExpiredSql =
      'SELECT k, size, expires_at FROM objects WHERE tenant_id = ? AND expires_at <= ? ' +
      `ORDER BY expires_at, k LIMIT ?${forUpdate}`;
    this.lockAnySql = `SELECT k, size, expires_at FROM objects WHERE tenant_id = ? LIMIT ?${forUpdate}`;
  }

  async get(tenantId: number, key: string): Promise<StoredObject | undefined> {
    const [row] = await this.sql.select(GET, [tenantId, key]);
    return row ? { value: row.value as string, expiresAt: numberOrNull(row.expires_at) } : undefined;
  }

  /** The rows of these keys that exist, locked. */
  async lockKeys(tenantId: number, keys: string[]): Promise<Map<string, LockedRow>> {
    const found = new Map<string, LockedRow>();
    const perStatement = this.sql.dialect.maxBindings - 1;
    for (let i = 0; i < keys.length; i += perStatement) {
      const slice = keys.slice(i, i + perStatement);
      const rows = await this.sql.select(lockKeysSql(slice.length, this.sql.dialect.forUpdate), [tenantId, ...slice]);
      for (const row of rows) {
        const locked = this.lockedRow(row);
        found.set(locked.key, locked);
      }
    }
    return found;
  }

  /** Up to `limit` of the tenant's objects expired by `now`, oldest expiry first, locked. */
  async lockExpired(tenantId: number, now: number, limit: number): Promise<LockedRow[]> {
    return (await this.sql.select(this.lockExpiredSql, [tenantId, now, limit])).map((r) => this.lockedRow(r));
  }

  /** Up to `limit` of the tenant's objects, whatever their expiry, locked. */
  async lockAny(tenantId: number, limit: number): Promise<LockedRow[]> {
    return (await this.sql.select(this.lockAnySql, [tenantId, limit])).map((r) => this.lockedRow(r));
  }

  /** The tenant whose objects expired first, if any has. Not locked: the purge locks the tenant next. */
  async nextExpiredTenant(now: number): Promise<number | undefined> {
    const [row] = await this.sql.select(NEXT_EXPIRED_TENANT, [now]);
    return row ? Number(row.tenant_id) : undefined;
  }

  /** Writes `writes`; `existing` says which of their keys have a row already (from `lockKeys`). */
  async write(tenantId: number, writes: ObjectWrite[], existing: ReadonlyMap<string, LockedRow>): Promise<void> {
    if (writes.length === 1) {
      const [w] = writes;
      if (existing.has(w.key)) await this.sql.execute(UPDATE_ONE, [w.value, w.size, w.expiresAt, tenantId, w.key]);
      else await this.sql.execute(INSERT_ONE, [tenantId, w.key, w.value, w.size, w.expiresAt]);
      return;
    }
    const rows = writes.map((w) => ({
      tenant_id: tenantId,
      k: w.key,
      value: w.value,
      size: w.size,
      expires_at: w.expiresAt,
    }));
    await this.sql.upsert('objects', rows, ['tenant_id', 'k'], ['value', 'size', 'expires_at']);
  }

  async remove(tenantId: number, keys: string[]): Promise<void> {
    const perStatement = this.sql.dialect.maxBindings - 1;
    for (let i = 0; i < keys.length; i += perStatement) {
      const slice = keys.slice(i, i + perStatement);
      await this.sql.execute(`DELETE FROM objects WHERE tenant_id = ? AND k IN (${placeholders(slice.length)})`, [
        tenantId,
        ...slice,
      ]);
    }
  }

  private lockedRow(row: Record<string, unknown>): LockedRow {
    return { key: this.sql.dialect.keyText(row.k), size: Number(row.size), expiresAt: numberOrNull(row.expires_at) };
  }
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Constant SQL the benchmark's baselines run as the service does. */
export const OBJECTS_SQL = { get: GET, insertOne: INSERT_ONE, updateOne: UPDATE_ONE, lockKeys: lockKeysSql } as const;
