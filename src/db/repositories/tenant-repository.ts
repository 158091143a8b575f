import type { Db } from '../knex';

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
      .where('user_name', userName);
    if (!row) return undefined;
    return {
      id: Number(row.id),
      passwordHash: row.password_hash ?? null,
      suspended: Boolean(row.suspended),
      tokenVersion: Number(row.token_version),
    };
  }

  async quota(tenantId: number): Promise<Quota | undefined> {
    const row = await this.db.knex('tenants').first('provisioned', 'utilised').where('id', tenantId);
    return row ? { provisioned: Number(row.provisioned), utilised: Number(row.utilised) } : undefined;
  }
}
