import type { Sql } from '../../platform/db/sql';
import type { Scope } from '../../platform/principal';

export interface ApiTokenRecord {
  id: string;
  tenantId: number;
  name: string | null;
  scopes: Scope[];
  createdAtMs: number;
  /** Unix seconds, or null for never. */
  expiresAt: number | null;
  revoked: boolean;
}

/** All SQL on api_tokens: the records behind tenant applications' scoped JWTs. */
export class ApiTokenRepository {
  constructor(private readonly sql: Sql) {}

  async create(token: Omit<ApiTokenRecord, 'revoked'>): Promise<void> {
    await this.sql.execute(
      this.sql.build('api_tokens').insert({
        id: token.id,
        tenant_id: token.tenantId,
        name: token.name,
        scopes: token.scopes.join(' '),
        created_at: token.createdAtMs,
        expires_at: token.expiresAt,
      }),
    );
  }

  async find(id: string): Promise<ApiTokenRecord | undefined> {
    const [row] = await this.sql.select(this.sql.build('api_tokens').select('*').where('id', id));
    return row ? toRecord(row) : undefined;
  }

  /** The tenant's tokens that are neither revoked nor expired at `nowSeconds`, newest first. */
  async listActive(tenantId: number, nowSeconds: number): Promise<ApiTokenRecord[]> {
    const rows = await this.sql.select(
      this.sql
        .build('api_tokens')
        .select('*')
        .where('tenant_id', tenantId)
        .whereNull('revoked_at')
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', nowSeconds))
        .orderBy('created_at', 'desc'),
    );
    return rows.map(toRecord);
  }

  /** False when the tenant has no such unrevoked token. */
  async revoke(tenantId: number, id: string, nowMs: number): Promise<boolean> {
    const { affectedRows } = await this.sql.execute(
      this.sql
        .build('api_tokens')
        .update({ revoked_at: nowMs })
        .where({ id, tenant_id: tenantId })
        .whereNull('revoked_at'),
    );
    return affectedRows > 0;
  }

  async revokedSince(sinceMs: number): Promise<string[]> {
    const rows = await this.sql.select(this.sql.build('api_tokens').select('id').where('revoked_at', '>=', sinceMs));
    return rows.map((r) => String(r.id));
  }
}

function toRecord(row: Record<string, unknown>): ApiTokenRecord {
  return {
    id: String(row.id),
    tenantId: Number(row.tenant_id),
    name: row.name === null || row.name === undefined ? null : String(row.name),
    scopes: String(row.scopes).split(' ') as Scope[],
    createdAtMs: Number(row.created_at),
    expiresAt: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
    revoked: row.revoked_at !== null && row.revoked_at !== undefined,
  };
}
