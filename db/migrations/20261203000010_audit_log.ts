import type { Knex } from 'knex';
import { mysqlTable } from '../schema';

export const config = { transaction: false };

/**
 * The audit log: one row per admin action and per (coalesced) authentication failure on the admin API, each
 * chained to the one before by `prev_hash` (src/features/audit says what the hash covers).
 * - `id` is assigned by the appender as the head's `last_id` + 1, not by AUTO_INCREMENT: the hash covers the id,
 *   so it must be known before the row is written, and ids stay contiguous and in chain order on a Galera
 *   cluster too, where AUTO_INCREMENT steps by the node count and is handed out before the commit order is known.
 * - `before_json` / `after_json` hold the changed fields as JSON text exactly as hashed: a JSON column would be
 *   normalised by MySQL 8 (keys reordered), which would break the hash.
 * - audit_head, one row: the last id and hash. Appenders lock it, so that two of them never chain to the same
 *   row, and it names the end of the chain, so that removing the last rows is detected as well. It starts at the
 *   genesis value, 64 zeros.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_log', (t) => {
    mysqlTable(knex, t);
    t.bigInteger('id').primary();
    // Unix milliseconds.
    t.bigInteger('at').notNullable();
    // The admin key's fingerprint; for an authentication failure, that of what was sent, null when nothing was.
    t.string('actor', 12).nullable();
    t.string('action', 32).notNullable();
    t.string('target', 128).notNullable();
    t.string('client_address', 64).nullable();
    t.text('before_json').nullable();
    t.text('after_json').nullable();
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable();
  });
  await knex.schema.createTable('audit_head', (t) => {
    mysqlTable(knex, t);
    t.tinyint('id').primary();
    t.bigInteger('last_id').notNullable();
    t.string('hash', 64).notNullable();
  });
  await knex('audit_head').insert({ id: 1, last_id: 0, hash: '0'.repeat(64) });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_head');
  await knex.schema.dropTable('audit_log');
}
