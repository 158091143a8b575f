import type { Knex } from 'knex';
import { createRoutines, isMysql, isPrivilegeError } from '../schema';

export const config = { transaction: false };

/**
 * Per-tenant operating limits: a request rate with a burst (null: the instance's RATE_LIMIT_RPS / RATE_LIMIT_BURST)
 * and read-only mode, which refuses writes and pauses the purge of the tenant's expired objects. Both are part of
 * the access state each instance caches and polls by `updated_at`, like a suspension.
 *
 * MySQL/MariaDB: the purge procedure, version 4, skips read-only tenants, and the EVENT calls it from now on (a
 * read-only tenant must not lose rows in the moments before the service's start keeps the EVENT in step). Version 3
 * stays for instances of the previous release until they are replaced.
 */
const PURGE = `
CREATE PROCEDURE tenantkv_purge_expired_v4(IN chunk_rows INT, IN max_chunks INT)
BEGIN
  DECLARE tid, rev BIGINT;
  DECLARE freed BIGINT;
  DECLARE removed BIGINT;
  DECLARE now_s BIGINT;
  DECLARE chunks INT DEFAULT 0;
  SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
  purge_loop: WHILE chunks < max_chunks DO
    SET now_s = UNIX_TIMESTAMP();
    SET tid = (SELECT o.tenant_id FROM objects o JOIN tenants t ON t.id = o.tenant_id
      WHERE o.expires_at <= now_s AND t.read_only = 0 ORDER BY o.expires_at LIMIT 1);
    IF tid IS NULL THEN
      LEAVE purge_loop;
    END IF;
    START TRANSACTION;
    SELECT id, revision + 1 INTO tid, rev FROM tenants WHERE id = tid FOR UPDATE;
    SELECT COALESCE(SUM(size), 0), COUNT(*) INTO freed, removed FROM (
      SELECT size FROM objects WHERE expires_at <= now_s AND tenant_id = tid
      ORDER BY expires_at, k LIMIT chunk_rows FOR UPDATE
    ) AS chunk;
    INSERT INTO changes (tenant_id, revision, seq, type, k, size, expires_at, metadata, value, created_at)
      SELECT tenant_id, rev, ROW_NUMBER() OVER (ORDER BY expires_at, k) - 1, 'expire', k, size, expires_at,
        metadata, NULL, now_s * 1000
      FROM (SELECT tenant_id, k, size, expires_at, metadata FROM objects
        WHERE expires_at <= now_s AND tenant_id = tid ORDER BY expires_at, k LIMIT chunk_rows) AS chunk;
    DELETE FROM objects WHERE expires_at <= now_s AND tenant_id = tid ORDER BY expires_at, k LIMIT chunk_rows;
    UPDATE tenants SET utilised = utilised - freed, object_count = object_count - removed,
      revision = revision + (removed > 0) WHERE id = tid;
    COMMIT;
    SET chunks = chunks + 1;
  END WHILE;
END`;
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenants', (t) => {
    t.integer('rate_limit_rps').nullable();
    t.integer('rate_limit_burst').nullable();
    t.boolean('read_only').notNullable().defaultTo(false);
  });
  if (!isMysql(knex)) return;
  await createRoutines(knex, 'purge procedure (version 4)', [
    'DROP PROCEDURE IF EXISTS tenantkv_purge_expired_v4',
    PURGE,
  ]);
  const [events] = (await knex.raw(
    `SELECT EVENT_DEFINITION AS body FROM information_schema.EVENTS
     WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'tenantkv_purge'`,
  )) as [{ body: string }[]];
  const body = events[0]?.body;
  if (body?.includes('tenantkv_purge_expired_v3')) {
    try {
      await knex.raw(
        `ALTER EVENT tenantkv_purge DO ${body.replace('tenantkv_purge_expired_v3', 'tenantkv_purge_expired_v4')}`,
      );
    } catch (err) {
      if (!isPrivilegeError(err)) throw err;
      process.emitWarning(
        `purge EVENT not moved to version 4 (${(err as Error).message}); the service does it at start`,
      );
    }
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isMysql(knex)) await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_purge_expired_v4');
  await knex.schema.alterTable('tenants', (t) => {
    t.dropColumn('rate_limit_rps');
    t.dropColumn('rate_limit_burst');
    t.dropColumn('read_only');
  });
}
