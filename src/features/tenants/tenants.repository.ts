import type { Sql } from '../../platform/db/sql';
import { prefixRange } from '../../platform/db/prefix-range';

export interface TenantCredentials {
  id: number;
  passwordHash: string | null;
  suspended: boolean;
  tokenVersion: number;
}

export interface NewTenant {
  userName: string;
  passwordHash: string | null;
  provisioned: number;
  historyDepth: number;
  limits?: OperatingLimits;
}

/** An operator's per-tenant limits; a null rate or burst is the instance's default. */
export interface OperatingLimits {
  rateLimitRps?: number | null;
  rateLimitBurst?: number | null;
  readOnly?: boolean;
}

export interface TenantRecord {
  id: number;
  userName: string;
  provisioned: number;
  utilised: number;
  objects: number;
  suspended: boolean;
  historyDepth: number;
  historyBytes: number;
  rateLimitRps: number | null;
  rateLimitBurst: number | null;
  readOnly: boolean;
  createdAtMs: number;
}

/** What a request's admission needs to know of a tenant; cached by TenantAccess. */
export interface AccessState {
  id: number;
  suspended: boolean;
  deleted: boolean;
  tokenVersion: number;
  rateLimitRps: number | null;
  rateLimitBurst: number | null;
  readOnly: boolean;
}

export interface TenantChanges extends OperatingLimits {
  provisioned?: number;
  suspended?: boolean;
  passwordHash?: string;
  historyDepth?: number;
}

const RECORD_COLUMNS = [
  'id',
  'user_name',
  'provisioned',
  'utilised',
  'object_count',
  'suspended',
  'history_depth',
  'history_bytes',
  'rate_limit_rps',
  'rate_limit_burst',
  'read_only',
  'created_at',
];
const ACCESS_COLUMNS = [
  'id',
  'suspended',
  'deleted',
  'token_version',
  'rate_limit_rps',
  'rate_limit_burst',
  'read_only',
];

/** The columns of an operator's limits that `limits` sets. */
function limitColumns(limits: OperatingLimits): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  if (limits.rateLimitRps !== undefined) set.rate_limit_rps = limits.rateLimitRps;
  if (limits.rateLimitBurst !== undefined) set.rate_limit_burst = limits.rateLimitBurst;
  if (limits.readOnly !== undefined) set.read_only = limits.readOnly;
  return set;
}

const nullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

/** SQL on the tenants table outside the ledger columns (features/quota owns those). */
export class TenantRepository {
  constructor(private readonly sql: Sql) {}

  /** Returns the new tenant's id, or undefined when the name is taken. */
  async create(tenant: NewTenant, nowMs: number): Promise<number | undefined> {
    try {
      const { insertId } = await this.sql.execute(
        this.sql.build('tenants').insert({
          user_name: tenant.userName,
          password_hash: tenant.passwordHash,
          provisioned: tenant.provisioned,
          history_depth: tenant.historyDepth,
          ...limitColumns(tenant.limits ?? {}),
          created_at: nowMs,
          updated_at: nowMs,
        }),
      );
      return insertId;
    } catch (err) {
      if (this.sql.dialect.classify(err) === 'duplicate_key') return undefined;
      throw err;
    }
  }

  async findCredentials(userName: string): Promise<TenantCredentials | undefined> {
    const [row] = await this.sql.select(
      this.sql
        .build('tenants')
        .select('id', 'password_hash', 'suspended', 'token_version')
        .where({ user_name: userName, deleted: false }),
    );
    if (!row) return undefined;
    return {
      id: Number(row.id),
      passwordHash: (row.password_hash as string | null) ?? null,
      suspended: Boolean(row.suspended),
      tokenVersion: Number(row.token_version),
    };
  }

  async find(id: number): Promise<TenantRecord | undefined> {
    const [row] = await this.sql.select(
      this.sql
        .build('tenants')
        .select(...RECORD_COLUMNS)
        .where({ id, deleted: false }),
    );
    return row ? this.toRecord(row) : undefined;
  }

  /**
   * The tenant's row, deleted or not, locked for the caller's transaction: what an audited change reads first, so
   * that the `before` it records is what it replaced.
   */
  async findForUpdate(id: number): Promise<(TenantRecord & { deleted: boolean }) | undefined> {
    const [row] = await this.sql.select(
      `SELECT ${[...RECORD_COLUMNS, 'deleted'].join(', ')} FROM tenants WHERE id = ?${this.sql.dialect.forUpdate}`,
      [id],
    );
    return row ? { ...this.toRecord(row), deleted: Boolean(row.deleted) } : undefined;
  }

  /** A page in id order, after `afterId`, optionally only names starting with `prefix`. */
  async list(limit: number, afterId: number, prefix: string | undefined): Promise<TenantRecord[]> {
    const query = this.sql
      .build('tenants')
      .select(...RECORD_COLUMNS)
      .where('id', '>', afterId)
      .andWhere('deleted', false)
      .orderBy('id')
      .limit(limit);
    if (prefix) {
      const range = prefixRange(prefix);
      query.andWhere('user_name', '>=', range.from);
      if (range.to !== undefined) query.andWhere('user_name', '<', range.to);
    }
    return (await this.sql.select(query)).map((row) => this.toRecord(row));
  }

  /**
   * Applies an operator's changes. A new password or a suspension bumps the token version, which revokes
   * every login token issued before. Returns false when there is no such tenant.
   */
  async update(id: number, changes: TenantChanges, nowMs: number): Promise<boolean> {
    const set: Record<string, unknown> = { ...limitColumns(changes), updated_at: nowMs };
    if (changes.provisioned !== undefined) set.provisioned = changes.provisioned;
    if (changes.suspended !== undefined) set.suspended = changes.suspended;
    if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
    if (changes.historyDepth !== undefined) set.history_depth = changes.historyDepth;
    if (changes.passwordHash !== undefined || changes.suspended === true) {
      set.token_version = this.sql.build.raw('token_version + 1');
    }
    const { affectedRows } = await this.sql.execute(
      this.sql.build('tenants').update(set).where({ id, deleted: false }),
    );
    return affectedRows > 0;
  }

  /**
   * First step of a deletion, in the caller's transaction: lock the tenant's row (so in-flight writes finish
   * first), mark it deleted and give its name back — the row stays as a tombstone, renamed to a name no request
   * can take (names have no control characters), so that every instance's poll sees the deletion. A tenant
   * already marked is marked again, so a deletion cut short can be finished. False if there is no such row.
   */
  async markDeleted(id: number, nowMs: number): Promise<boolean> {
    const [row] = await this.sql.select(`SELECT id FROM tenants WHERE id = ?${this.sql.dialect.forUpdate}`, [id]);
    if (!row) return false;
    await this.sql.execute(
      this.sql
        .build('tenants')
        .update({
          deleted: true,
          user_name: `\u0001deleted:${id}`,
          token_version: this.sql.build.raw('token_version + 1'),
          updated_at: nowMs,
        })
        .where('id', id),
    );
    return true;
  }

  /** Once a deleted tenant's objects are gone: its tokens. */
  async removeTokens(id: number): Promise<void> {
    await this.sql.execute(this.sql.build('api_tokens').where('tenant_id', id).delete());
  }

  /**
   * Removes the tombstones of deletions finished before `beforeMs`: by then every instance has polled and
   * seen them, so a cached tenant cannot outlive its row unnoticed.
   */
  async sweepTombstones(beforeMs: number): Promise<number> {
    const b = this.sql.build;
    const { affectedRows } = await this.sql.execute(
      b('tenants')
        .where('deleted', true)
        .andWhere('updated_at', '<', beforeMs)
        .whereNotExists((q) => q.select(b.raw('1')).from('objects').whereRaw('objects.tenant_id = tenants.id'))
        .whereNotExists((q) => q.select(b.raw('1')).from('api_tokens').whereRaw('api_tokens.tenant_id = tenants.id'))
        .delete(),
    );
    return affectedRows;
  }

  async accessState(id: number): Promise<AccessState | undefined> {
    const [row] = await this.sql.select(
      this.sql
        .build('tenants')
        .select(...ACCESS_COLUMNS)
        .where('id', id),
    );
    return row ? toAccessState(row) : undefined;
  }

  private toRecord(row: Record<string, unknown>): TenantRecord {
    return toRecordWith(this.sql.dialect.keyText, row);
  }

  /** Tenants whose access state may have changed at or after `sinceMs`. */
  async changedSince(sinceMs: number): Promise<AccessState[]> {
    const rows = await this.sql.select(
      this.sql
        .build('tenants')
        .select(...ACCESS_COLUMNS)
        .where('updated_at', '>=', sinceMs),
    );
    return rows.map(toAccessState);
  }
}

function toRecordWith(keyText: (value: unknown) => string, row: Record<string, unknown>): TenantRecord {
  return {
    id: Number(row.id),
    userName: keyText(row.user_name),
    provisioned: Number(row.provisioned),
    utilised: Number(row.utilised),
    objects: Number(row.object_count),
    suspended: Boolean(row.suspended),
    historyDepth: Number(row.history_depth),
    historyBytes: Number(row.history_bytes),
    rateLimitRps: nullableNumber(row.rate_limit_rps),
    rateLimitBurst: nullableNumber(row.rate_limit_burst),
    readOnly: Boolean(row.read_only),
    createdAtMs: Number(row.created_at),
  };
}

function toAccessState(row: Record<string, unknown>): AccessState {
  return {
    id: Number(row.id),
    suspended: Boolean(row.suspended),
    deleted: Boolean(row.deleted),
    tokenVersion: Number(row.token_version),
    rateLimitRps: nullableNumber(row.rate_limit_rps),
    rateLimitBurst: nullableNumber(row.rate_limit_burst),
    readOnly: Boolean(row.read_only),
  };
}
