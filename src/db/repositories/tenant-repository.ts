import type { Db } from '../knex';
import { inTransaction } from '../transaction';

export interface TenantCredentials {
  id: number;
  passwordHash: string | null;
  suspended: boolean;
  tokenVersion: number;
}

export interface Quota {
  provisioned: number;
  utilised: number;
}

export interface NewTenant {
  userName: string;
  passwordHash: string | null;
  provisioned: number;
}

export interface TenantRecord {
  id: number;
  userName: string;
  provisioned: number;
  utilised: number;
  objects: number;
  suspended: boolean;
  createdAtMs: number;
}

/** What a request's authorisation needs to know of a tenant; cached by TenantAccess. */
export interface AccessState {
  id: number;
  suspended: boolean;
  deleted: boolean;
  tokenVersion: number;
}

export interface TenantChanges {
  provisioned?: number;
  suspended?: boolean;
  passwordHash?: string;
}

const RECORD_COLUMNS = ['id', 'user_name', 'provisioned', 'utilised', 'object_count', 'suspended', 'created_at'];

/** All SQL on the tenants table outside the ledger columns, which ObjectRepository owns. */
export class TenantRepository {
  constructor(private readonly db: Db) {}

  /** Returns the new tenant's id, or undefined when the name is taken. */
  async create(tenant: NewTenant, nowMs: number): Promise<number | undefined> {
    try {
      const [id] = await this.db.knex('tenants').insert({
        user_name: tenant.userName,
        password_hash: tenant.passwordHash,
        provisioned: tenant.provisioned,
        created_at: nowMs,
        updated_at: nowMs,
      });
      return Number(id);
    } catch (err) {
      if (this.db.dialect.isDuplicateKey(err)) return undefined;
      throw err;
    }
  }

  async findCredentials(userName: string): Promise<TenantCredentials | undefined> {
    const row = await this.db
      .knex('tenants')
      .first('id', 'password_hash', 'suspended', 'token_version')
      .where({ user_name: userName, deleted: false });
    if (!row) return undefined;
    return {
      id: Number(row.id),
      passwordHash: row.password_hash ?? null,
      suspended: Boolean(row.suspended),
      tokenVersion: Number(row.token_version),
    };
  }

  async quota(tenantId: number): Promise<Quota | undefined> {
    const row = await this.db.knex('tenants').first('provisioned', 'utilised').where({ id: tenantId, deleted: false });
    return row ? { provisioned: Number(row.provisioned), utilised: Number(row.utilised) } : undefined;
  }

  async find(id: number): Promise<TenantRecord | undefined> {
    const row = await this.db
      .knex('tenants')
      .first(...RECORD_COLUMNS)
      .where({ id, deleted: false });
    return row ? toRecord(row) : undefined;
  }

  /** A page in id order, after `afterId`, optionally only names starting with `prefix`. */
  async list(limit: number, afterId: number, prefix: string | undefined): Promise<TenantRecord[]> {
    const query = this.db
      .knex('tenants')
      .select(...RECORD_COLUMNS)
      .where('id', '>', afterId)
      .andWhere('deleted', false)
      .orderBy('id')
      .limit(limit);
    if (prefix) {
      query.andWhereRaw("user_name LIKE ? ESCAPE '!'", [`${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`]);
    }
    return (await query).map(toRecord);
  }

  /**
   * Applies an operator's changes. A new password or a suspension bumps the token version, which revokes
   * every login token issued before. Returns false when there is no such tenant.
   */
  async update(id: number, changes: TenantChanges, nowMs: number): Promise<boolean> {
    const set: Record<string, unknown> = { updated_at: nowMs };
    if (changes.provisioned !== undefined) set.provisioned = changes.provisioned;
    if (changes.suspended !== undefined) set.suspended = changes.suspended;
    if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
    if (changes.passwordHash !== undefined || changes.suspended === true) {
      set.token_version = this.db.knex.raw('token_version + 1');
    }
    const updated = await this.db.knex('tenants').update(set).where({ id, deleted: false });
    return updated > 0;
  }

  /**
   * First step of a deletion: under the tenant's lock (so in-flight writes finish first), mark it deleted and
   * give its name back — the row stays as a tombstone, renamed to a name no request can take (names have no
   * control characters), so that every instance's poll sees the deletion. A tenant already marked is marked
   * again, so a deletion cut short can be finished. False if there is no such row.
   */
  async markDeleted(id: number, nowMs: number): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      const [row] = this.db.dialect.rowsOf(
        await trx.raw(`SELECT id FROM tenants WHERE id = ?${this.db.dialect.forUpdate}`, [id]),
      );
      if (!row) return false;
      await trx('tenants')
        .update({
          deleted: true,
          user_name: `\u0001deleted:${id}`,
          token_version: trx.raw('token_version + 1'),
          updated_at: nowMs,
        })
        .where('id', id);
      return true;
    });
  }

  /** Once a deleted tenant's objects are gone: its tokens. */
  async removeTokens(id: number): Promise<void> {
    await this.db.knex('api_tokens').where('tenant_id', id).delete();
  }

  /**
   * Removes the tombstones of deletions finished before `beforeMs`: by then every instance has polled and
   * seen them, so a cached tenant cannot outlive its row unnoticed.
   */
  async sweepTombstones(beforeMs: number): Promise<number> {
    return this.db
      .knex('tenants')
      .where('deleted', true)
      .andWhere('updated_at', '<', beforeMs)
      .whereNotExists((q) => q.select(this.db.knex.raw('1')).from('objects').whereRaw('objects.tenant_id = tenants.id'))
      .whereNotExists((q) =>
        q.select(this.db.knex.raw('1')).from('api_tokens').whereRaw('api_tokens.tenant_id = tenants.id'),
      )
      .delete();
  }

  async accessState(id: number): Promise<AccessState | undefined> {
    const row = await this.db.knex('tenants').first('id', 'suspended', 'deleted', 'token_version').where('id', id);
    return row ? toAccessState(row) : undefined;
  }

  /** Tenants whose access state may have changed at or after `sinceMs`. */
  async changedSince(sinceMs: number): Promise<AccessState[]> {
    const rows = await this.db
      .knex('tenants')
      .select('id', 'suspended', 'deleted', 'token_version')
      .where('updated_at', '>=', sinceMs);
    return rows.map(toAccessState);
  }
}

function toRecord(row: Record<string, unknown>): TenantRecord {
  return {
    id: Number(row.id),
    userName: String(row.user_name),
    provisioned: Number(row.provisioned),
    utilised: Number(row.utilised),
    objects: Number(row.object_count),
    suspended: Boolean(row.suspended),
    createdAtMs: Number(row.created_at),
  };
}

function toAccessState(row: Record<string, unknown>): AccessState {
  return {
    id: Number(row.id),
    suspended: Boolean(row.suspended),
    deleted: Boolean(row.deleted),
    tokenVersion: Number(row.token_version),
  };
}
