import type { Knex } from 'knex';
import { isMysql } from '../schema';

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  const mysql = isMysql(knex);
  await knex.schema.createTable('tenants', (t) => {
    if (mysql) {
      t.charset('utf8mb4');
      t.collate('utf8mb4_bin');
      t.engine('InnoDB');
    }
    t.bigIncrements('id').primary();
    t.string('user_name', 64).notNullable().unique();
    t.string('password_hash', 255).nullable();
    t.bigInteger('provisioned').notNullable();
    // The ledger: utilised is the sum of the tenant's stored value sizes, object_count their number.
    t.bigInteger('utilised').notNullable().defaultTo(0);
    t.bigInteger('object_count').notNullable().defaultTo(0);
    t.boolean('suspended').notNullable().defaultTo(false);
    t.integer('token_version').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable('objects', (t) => {
    if (mysql) {
      t.charset('utf8mb4');
      t.collate('utf8mb4_bin');
      t.engine('InnoDB');
    }
    t.bigInteger('tenant_id').unsigned().notNullable().references('id').inTable('tenants');
    // Keys are compared byte for byte: a binary column has no collation and no trailing-space padding.
    if (mysql) t.specificType('k', 'VARBINARY(128)').notNullable();
    else t.text('k').notNullable();
    t.text('value', 'mediumtext').notNullable();
    t.integer('size').notNullable();
    // Unix seconds; NULL means the object never expires.
    t.bigInteger('expires_at').nullable();
    t.primary(['tenant_id', 'k']);
    t.index(['expires_at', 'tenant_id'], 'objects_expiry');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('objects');
  await knex.schema.dropTableIfExists('tenants');
}
