import type { Knex } from 'knex';
import { isMysql } from '../schema';

export const config = { transaction: false };

/**
 * Operators' additions: API tokens that can be listed and revoked, a `deleted` mark so that every instance
 * refuses a tenant whose objects are being removed, and an index on updated_at, which each instance polls to
 * learn of suspensions and revocations without a database round trip per request.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = isMysql(knex);
  await knex.schema.alterTable('tenants', (t) => {
    t.boolean('deleted').notNullable().defaultTo(false);
    t.index(['updated_at'], 'tenants_updated_at');
  });
  await knex.schema.createTable('api_tokens', (t) => {
    if (mysql) {
      t.charset('utf8mb4');
      t.collate('utf8mb4_bin');
      t.engine('InnoDB');
    }
    t.string('id', 40).primary();
    t.bigInteger('tenant_id').unsigned().notNullable().references('id').inTable('tenants');
    t.string('name', 100).nullable();
    t.string('scopes', 32).notNullable();
    t.bigInteger('created_at').notNullable();
    // Unix seconds; NULL for a token that does not expire.
    t.bigInteger('expires_at').nullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['tenant_id'], 'api_tokens_tenant');
    t.index(['revoked_at'], 'api_tokens_revoked_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('api_tokens');
  await knex.schema.alterTable('tenants', (t) => {
    t.dropIndex(['updated_at'], 'tenants_updated_at');
    t.dropColumn('deleted');
  });
}
