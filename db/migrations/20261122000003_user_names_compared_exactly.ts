import type { Knex } from 'knex';
import { isMysql } from '../schema';

export const config = { transaction: false };

/**
 * MySQL/MariaDB: user names compared byte for byte. The VARCHAR's collation ignored trailing spaces, so
 * "alice " was taken as "alice" at registration and at login; SQLite already compares exactly. 256 bytes hold
 * the 64 characters a name may have.
 */
export async function up(knex: Knex): Promise<void> {
  if (!isMysql(knex)) return;
  await knex.raw('ALTER TABLE tenants MODIFY user_name VARBINARY(256) NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  if (!isMysql(knex)) return;
  await knex.raw('ALTER TABLE tenants MODIFY user_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
}
