import type { Sql, Row } from '../../platform/db/sql';
import type { LockedRow } from './write-model';

/** An object as a read returns it: `value` and `metadata` are stored compact JSON text. */
export interface StoredObject {
  key: string;
  value: string;
  metadata: string | null;
  size: number;
  /** Unix seconds, or null for never. */
  expiresAt: number | null;
  version: number;
  /** When the write that made this version was (ms); null for objects written before it was recorded. */
  writtenAtMs: number | null;
}

/** A listing entry: the stored object without its value unless it was asked for. */
export type ListedObject = Omit<StoredObject, 'value'> & { value?: string };

/** Keys in [from, to) (to undefined: no upper bound), in byte order. */
export interface KeyRange {
  from: string;
  to: string | undefined;
}

/** A row to write: the object, the version it takes and when, and whether its key has a row already. */
export interface RowWrite {
  key: string;
  value: string;
  metadata: string | null;
  size: number;
  expiresAt: number | null;
  version: number;
  writtenAtMs?: number | null;
  exists: boolean;
}

const COLUMNS = 'k, value, metadata, size, expires_at, version, written_at';
const LOCKED_COLUMNS = 'k, size, version, expires_at, metadata';
/** Where the tenant keeps history, a replaced row becomes a kept version: read it whole. */
const KEPT_COLUMNS = `${LOCKED_COLUMNS}, value, written_at`;
// The hottest statement: the key is known, so it is not read back.
const GET = 'SELECT value, metadata, size, expires_at, version, written_at FROM objects WHERE tenant_id = ? AND k = ?';
const INSERT_ONE =
  'INSERT INTO objects (tenant_id, k, value, metadata, size, expires_at, version, written_at) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const UPDATE_ONE =
  'UPDATE objects SET value = ?, metadata = ?, size = ?, expires_at = ?, version = ?, written_at = ? ' +
  'WHERE tenant_id = ? AND k = ?';
// Read-only tenants are left alone: an operator froze them.
const NEXT_EXPIRED_TENANT =
  'SELECT o.tenant_id FROM objects o JOIN tenants t ON t.id = o.tenant_id ' +
  'WHERE o.expires_at <= ? AND t.read_only = 0 ORDER BY o.expires_at LIMIT 1';
const LIVE = '(expires_at IS NULL OR expires_at > ?)';

const placeholders = (n: number): string => Array<string>(n).fill('?').join(', ');
/** The rows of `n` keys of a tenant, with the dialect's locking suffix. */
const lockKeysSql = (n: number, forUpdate: string, whole = false): string =>
  `SELECT ${whole ? KEPT_COLUMNS : LOCKED_COLUMNS} FROM objects WHERE tenant_id = ? AND k IN (${placeholders(n)})${forUpdate}`;

/** The objects of `n` keys of a tenant. */
const getManySql = (n: number): string =>
  `SELECT ${COLUMNS} FROM objects WHERE tenant_id = ? AND k IN (${placeholders(n)})`;

/** The objects of some keys of each of several tenants: `(tenant_id = ? AND k IN (…)) OR …`. */
const getPointsSql = (sizes: number[]): string =>
  `SELECT tenant_id, ${COLUMNS} FROM objects WHERE ` +
  (sizes.length === 1
    ? `tenant_id = ? AND k IN (${placeholders(sizes[0])})`
    : sizes.map((n) => `(tenant_id = ? AND k IN (${placeholders(n)}))`).join(' OR '));

/**
 * The tenant's revision and the objects of `n` keys, read in one statement and so from one snapshot: the objects
 * as they were at that revision (one row with null columns when none of the keys has an object).
 */
const revisionAndObjectsSql = (n: number): string =>
  'SELECT t.revision, o.k, o.value, o.metadata, o.size, o.expires_at, o.version, o.written_at ' +
  `FROM tenants t LEFT JOIN objects o ON o.tenant_id = t.id AND o.k IN (${placeholders(n)}) ` +
  'WHERE t.id = ? AND t.deleted = 0';

/** A page of live objects of a key range: bindings tenant, the range (and `after`), now, limit. */
const listSql = (where: string, withValues: boolean): string =>
  `SELECT ${withValues ? COLUMNS : 'k, metadata, size, expires_at, version, written_at'} FROM objects ` +
  `WHERE tenant_id = ? AND ${where} AND ${LIVE} ORDER BY k LIMIT ?`;

/** `k >= ? [AND k < ?] [AND k > ?]`: a key range, after a key already seen. */
function rangeSql(range: KeyRange, after: string | undefined): { sql: string; bindings: string[] } {
  const parts = ['k >= ?'];
  const bindings = [range.from];
  if (range.to !== undefined) {
    parts.push('k < ?');
    bindings.push(range.to);
  }
  if (after !== undefined) {
    parts.push('k > ?');
    bindings.push(after);
  }
  return { sql: parts.join(' AND '), bindings };
}

/**
 * SQL on the objects table, and nothing else: no decision is taken here. Every method that changes rows runs
 * inside the caller's unit of work, after the caller has locked the tenant's row and read the rows it changes
 * with a locking read (`lock…`).
 */
export class ObjectsRepository {
  private readonly forUpdate: string;

  constructor(private readonly sql: Sql) {
    this.forUpdate = sql.dialect.forUpdate;
  }

  async get(tenantId: number, key: string): Promise<StoredObject | undefined> {
    const [row] = await this.sql.select(GET, [tenantId, key]);
    return row ? this.stored(row, key) : undefined;
  }

  /** The stored objects of these keys that exist (expired ones included). */
  async getMany(tenantId: number, keys: string[]): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    for (const slice of this.slices(keys)) {
      const rows = await this.sql.select(getManySql(slice.length), [tenantId, ...slice]);
      for (const row of rows) found.push(this.stored(row));
    }
    return found;
  }

  /**
   * The stored objects (expired ones included) of several tenants' keys in one statement, by tenant and key.
   * The caller keeps the bindings well under the dialect's limit.
   */
  async getPoints(keys: Map<number, Set<string>>): Promise<Map<number, Map<string, StoredObject>>> {
    const bindings: unknown[] = [];
    const sizes: number[] = [];
    for (const [tenantId, set] of keys) {
      bindings.push(tenantId, ...set);
      sizes.push(set.size);
    }
    const found = new Map<number, Map<string, StoredObject>>();
    for (const row of await this.sql.select(getPointsSql(sizes), bindings)) {
      const tenantId = Number(row.tenant_id);
      let objects = found.get(tenantId);
      if (!objects) found.set(tenantId, (objects = new Map()));
      const object = this.stored(row);
      objects.set(object.key, object);
    }
    return found;
  }

  /**
   * The tenant's revision with the stored objects (expired ones included) of these keys as of that revision, a
   * slice of keys per statement (each slice its own snapshot); an empty list when the tenant is gone.
   */
  async getAtRevision(
    tenantId: number,
    keys: string[],
  ): Promise<{ revision: number; keys: string[]; objects: StoredObject[] }[]> {
    const snapshots: { revision: number; keys: string[]; objects: StoredObject[] }[] = [];
    for (const slice of this.slices(keys)) {
      const rows = await this.sql.select(revisionAndObjectsSql(slice.length), [...slice, tenantId]);
      if (rows.length === 0) return [];
      snapshots.push({
        revision: Number(rows[0].revision),
        keys: slice,
        objects: rows.filter((row) => row.k !== null && row.k !== undefined).map((row) => this.stored(row)),
      });
    }
    return snapshots;
  }

  /** Up to `limit` live objects of a key range after `after`, in byte order of their keys. */
  async list(
    tenantId: number,
    range: KeyRange,
    after: string | undefined,
    limit: number,
    now: number,
    withValues: boolean,
  ): Promise<ListedObject[]> {
    const where = rangeSql(range, after);
    const rows = await this.sql.select(listSql(where.sql, withValues), [tenantId, ...where.bindings, now, limit]);
    return rows.map((row) => this.stored(row));
  }

  /** How many live objects a key range holds. */
  async count(tenantId: number, range: KeyRange, now: number): Promise<number> {
    const where = rangeSql(range, undefined);
    const [row] = await this.sql.select(
      `SELECT COUNT(*) AS n FROM objects WHERE tenant_id = ? AND ${where.sql} AND ${LIVE}`,
      [tenantId, ...where.bindings, now],
    );
    return Number(row?.n ?? 0);
  }

  /** The rows of these keys that exist, locked; `whole`: with their values, to be kept as versions. */
  async lockKeys(tenantId: number, keys: string[], whole: boolean): Promise<Map<string, LockedRow>> {
    const found = new Map<string, LockedRow>();
    for (const slice of this.slices(keys)) {
      const rows = await this.sql.select(lockKeysSql(slice.length, this.forUpdate, whole), [tenantId, ...slice]);
      for (const row of rows) {
        const locked = this.locked(row);
        found.set(locked.key, locked);
      }
    }
    return found;
  }

  /** Up to `limit` of the tenant's objects expired by `now`, oldest expiry first, locked. */
  async lockExpired(tenantId: number, now: number, limit: number): Promise<LockedRow[]> {
    const rows = await this.sql.select(
      `SELECT ${LOCKED_COLUMNS} FROM objects WHERE tenant_id = ? AND expires_at <= ? ` +
        `ORDER BY expires_at, k LIMIT ?${this.forUpdate}`,
      [tenantId, now, limit],
    );
    return rows.map((r) => this.locked(r));
  }

  /** Up to `limit` of the tenant's objects in a key range after `after`, whatever their expiry, locked. */
  async lockRange(
    tenantId: number,
    range: KeyRange,
    after: string | undefined,
    limit: number,
    whole: boolean,
  ): Promise<LockedRow[]> {
    const where = rangeSql(range, after);
    const rows = await this.sql.select(
      `SELECT ${whole ? KEPT_COLUMNS : LOCKED_COLUMNS} FROM objects WHERE tenant_id = ? AND ${where.sql} ORDER BY k LIMIT ?${this.forUpdate}`,
      [tenantId, ...where.bindings, limit],
    );
    return rows.map((r) => this.locked(r));
  }

  /** Up to `limit` of the tenant's objects, whatever their key or expiry, locked: for tenant deletion. */
  async lockAny(tenantId: number, limit: number): Promise<LockedRow[]> {
    const rows = await this.sql.select(
      `SELECT ${LOCKED_COLUMNS} FROM objects WHERE tenant_id = ? LIMIT ?${this.forUpdate}`,
      [tenantId, limit],
    );
    return rows.map((r) => this.locked(r));
  }

  /** The tenant whose objects expired first, if any has. Not locked: the purge locks the tenant next. */
  async nextExpiredTenant(now: number): Promise<number | undefined> {
    const [row] = await this.sql.select(NEXT_EXPIRED_TENANT, [now]);
    return row ? Number(row.tenant_id) : undefined;
  }

  /** Creates or replaces these rows. */
  async write(tenantId: number, writes: RowWrite[]): Promise<void> {
    if (writes.length === 1) {
      const [w] = writes;
      const written = w.writtenAtMs ?? null;
      if (w.exists) {
        await this.sql.execute(UPDATE_ONE, [
          w.value,
          w.metadata,
          w.size,
          w.expiresAt,
          w.version,
          written,
          tenantId,
          w.key,
        ]);
      } else {
        await this.sql.execute(INSERT_ONE, [
          tenantId,
          w.key,
          w.value,
          w.metadata,
          w.size,
          w.expiresAt,
          w.version,
          written,
        ]);
      }
      return;
    }
    const rows = writes.map((w) => ({
      tenant_id: tenantId,
      k: w.key,
      value: w.value,
      metadata: w.metadata,
      size: w.size,
      expires_at: w.expiresAt,
      version: w.version,
      written_at: w.writtenAtMs ?? null,
    }));
    await this.sql.insert('objects', rows, {
      key: ['tenant_id', 'k'],
      update: ['value', 'metadata', 'size', 'expires_at', 'version', 'written_at'],
    });
  }

  async remove(tenantId: number, keys: string[]): Promise<void> {
    for (const slice of this.slices(keys)) {
      await this.sql.execute(`DELETE FROM objects WHERE tenant_id = ? AND k IN (${placeholders(slice.length)})`, [
        tenantId,
        ...slice,
      ]);
    }
  }

  /** Keys in slices small enough for one statement's bound parameters (the tenant id takes one). */
  private slices(keys: string[]): string[][] {
    const per = this.sql.dialect.maxBindings - 1;
    const slices: string[][] = [];
    for (let i = 0; i < keys.length; i += per) slices.push(keys.slice(i, i + per));
    return slices;
  }

  private locked(row: Row): LockedRow {
    return {
      key: this.sql.dialect.keyText(row.k),
      size: Number(row.size),
      version: Number(row.version),
      expiresAt: numberOrNull(row.expires_at),
      metadata: (row.metadata as string | null) ?? null,
      ...(row.value === undefined ? {} : { value: row.value as string, writtenAtMs: numberOrNull(row.written_at) }),
    };
  }

  private stored(row: Row, key?: string): StoredObject {
    return {
      key: key ?? this.sql.dialect.keyText(row.k),
      value: row.value as string,
      metadata: (row.metadata as string | null) ?? null,
      size: Number(row.size),
      expiresAt: numberOrNull(row.expires_at),
      version: Number(row.version),
      writtenAtMs: numberOrNull(row.written_at),
    };
  }
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Constant SQL the benchmark's baselines run as the service does. */
export const OBJECTS_SQL = {
  get: GET,
  insertOne: INSERT_ONE,
  updateOne: UPDATE_ONE,
  lockKeys: lockKeysSql,
  getMany: getManySql,
  list: (range: KeyRange, after: string | undefined, withValues: boolean) =>
    listSql(rangeSql(range, after).sql, withValues),
} as const;
