import type { Knex } from 'knex';
import { mysqlTable } from '../schema';

/**
 * The purge lease: on a multi-primary cluster (Galera) one instance at a time purges expired objects, the one
 * holding this row. GET_LOCK is node-local there and an EVENT runs only on the node that last created or altered
 * it, so the cluster itself arbitrates: a holder takes or renews the lease with one conditional UPDATE (its own
 * lease, or one past `expires_at`), and a dead holder's lease lapses. Harmless on a single server and on SQLite,
 * which never use it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('purge_lease', (t) => {
    mysqlTable(knex, t);
    t.string('name', 64).primary();
    // Who holds it ('' for nobody): host, pid and a random part, per process.
    t.string('holder', 128).notNullable().defaultTo('');
    // Unix milliseconds; the lease is free from then on.
    t.bigInteger('expires_at').notNullable().defaultTo(0);
  });
  await knex('purge_lease').insert({ name: 'purge', holder: '', expires_at: 0 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('purge_lease');
}
