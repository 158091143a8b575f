import type { Knex } from 'knex';
import { createRoutines, isMysql, mysqlTable } from '../schema';

export const config = { transaction: false };

/**
 * Revision history and the change feed.
 * - tenants: `history_depth` (previous versions kept per key, 0 = off) and `history_bytes` (their size, part of
 *   `utilised`: history is stored bytes and counts toward the quota).
 * - objects: `written_at`, the time of the write that made the version (ms).
 * - object_history: replaced versions and tombstones, per key, for tenants with a depth; its (tenant, version)
 *   index finds the tenant's oldest version across all its keys, which goes first when space is needed.
 * - changes: the outbox, written in each write's own transaction, one row per key changed, keyed by the tenant's
 *   revision, read by every process for its watchers; change_floors: per tenant, the newest revision whose
 *   changes retention has dropped (resuming from before it is 410); feed_watchers: the open change streams,
 *   one row each with a lease, so that the per-tenant limit on streams holds across processes and instances.
 *
 * MySQL/MariaDB: the write and delete procedures, version 4, also write their change record and `written_at`, and
 * leave to the write pipeline what keeps or trims history: a put that replaces a row of a tenant that keeps
 * history, a delete of such a tenant, and any write of a key that still has kept versions (its depth was lowered
 * to 0, which the next write of the key applies); a new key of such a tenant is written by the procedure. The
 * purge procedure, version 3, records an `expire` change per object it removes.
 */
const PUT = `
CREATE PROCEDURE tenantkv_put_v4(IN p_tenant BIGINT, IN p_key VARBINARY(2048),
  IN p_value MEDIUMTEXT CHARACTER SET utf8mb4, IN p_metadata TEXT CHARACTER SET utf8mb4, IN p_size INT,
  IN p_expires BIGINT, IN p_now_ms BIGINT, IN p_cond TINYINT, IN p_versions VARCHAR(1024))
BEGIN
  DECLARE v_prov, v_util, v_rev BIGINT DEFAULT NULL;
  DECLARE v_depth INT DEFAULT 0;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE v_version, v_expires, v_live BIGINT DEFAULT NULL;
  DECLARE v_delta BIGINT;
  DECLARE v_cond, v_ok, v_history BOOLEAN DEFAULT FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT provisioned, utilised, revision, history_depth INTO v_prov, v_util, v_rev, v_depth
    FROM tenants WHERE id = p_tenant AND deleted = 0 FOR UPDATE;
  SET v_history = EXISTS (SELECT 1 FROM object_history WHERE tenant_id = p_tenant AND k = p_key);
  IF v_prov IS NOT NULL AND NOT v_history THEN
    SELECT size, version, expires_at INTO v_old, v_version, v_expires
      FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE;
    -- A row this write replaces would become a kept version: that is the pipeline's. A new key is not.
    SET v_history = v_depth > 0 AND v_old IS NOT NULL;
  END IF;
  IF v_prov IS NOT NULL AND NOT v_history THEN
    IF v_old IS NOT NULL AND (v_expires IS NULL OR v_expires > FLOOR(p_now_ms / 1000)) THEN
      SET v_live = v_version;
    END IF;
    SET v_cond = CASE p_cond
      WHEN 1 THEN v_live IS NOT NULL
      WHEN 2 THEN v_live IS NULL
      WHEN 3 THEN v_live IS NOT NULL AND FIND_IN_SET(v_live, p_versions) > 0
      ELSE TRUE END;
    IF v_cond THEN
      SET v_delta = p_size - COALESCE(v_old, 0);
      SET v_ok = v_delta <= 0 OR v_util + v_delta <= v_prov;
      IF v_ok THEN
        SET v_rev = v_rev + 1;
        UPDATE tenants SET utilised = utilised + v_delta, object_count = object_count + (v_old IS NULL),
          revision = v_rev WHERE id = p_tenant;
        IF v_old IS NULL THEN
          INSERT INTO objects (tenant_id, k, value, metadata, size, expires_at, version, written_at)
            VALUES (p_tenant, p_key, p_value, p_metadata, p_size, p_expires, v_rev, p_now_ms);
        ELSE
          UPDATE objects SET value = p_value, metadata = p_metadata, size = p_size, expires_at = p_expires,
            version = v_rev, written_at = p_now_ms WHERE tenant_id = p_tenant AND k = p_key;
        END IF;
        INSERT INTO changes (tenant_id, revision, seq, type, k, size, expires_at, metadata, value, created_at)
          VALUES (p_tenant, v_rev, 0, 'put', p_key, p_size, p_expires, p_metadata, p_value, p_now_ms);
      END IF;
    END IF;
  END IF;
  COMMIT;
  SELECT v_prov IS NOT NULL AS tenant, v_history AS history, v_cond AS cond, v_ok AS ok,
    v_live AS current_version, IF(v_ok, v_rev, NULL) AS version;
END`;

const DELETE = `
CREATE PROCEDURE tenantkv_delete_v4(IN p_tenant BIGINT, IN p_key VARBINARY(2048), IN p_now_ms BIGINT,
  IN p_cond TINYINT, IN p_versions VARCHAR(1024))
BEGIN
  DECLARE v_id, v_rev BIGINT DEFAULT NULL;
  DECLARE v_depth INT DEFAULT 0;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE v_version, v_expires, v_live BIGINT DEFAULT NULL;
  DECLARE v_metadata TEXT CHARACTER SET utf8mb4 DEFAULT NULL;
  DECLARE v_cond, v_history BOOLEAN DEFAULT FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT id, revision, history_depth INTO v_id, v_rev, v_depth
    FROM tenants WHERE id = p_tenant AND deleted = 0 FOR UPDATE;
  SET v_history = v_depth > 0 OR EXISTS (SELECT 1 FROM object_history WHERE tenant_id = p_tenant AND k = p_key);
  IF v_id IS NOT NULL AND NOT v_history THEN
    SELECT size, version, expires_at, metadata INTO v_old, v_version, v_expires, v_metadata
      FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE;
    IF v_old IS NOT NULL AND (v_expires IS NULL OR v_expires > FLOOR(p_now_ms / 1000)) THEN
      SET v_live = v_version;
    END IF;
    SET v_cond = CASE p_cond
      WHEN 1 THEN v_live IS NOT NULL
      WHEN 2 THEN v_live IS NULL
      WHEN 3 THEN v_live IS NOT NULL AND FIND_IN_SET(v_live, p_versions) > 0
      ELSE TRUE END;
    IF v_cond AND v_old IS NOT NULL THEN
      SET v_rev = v_rev + 1;
      DELETE FROM objects WHERE tenant_id = p_tenant AND k = p_key;
      UPDATE tenants SET utilised = utilised - v_old, object_count = object_count - 1, revision = v_rev
        WHERE id = p_tenant;
      INSERT INTO changes (tenant_id, revision, seq, type, k, size, expires_at, metadata, value, created_at)
        VALUES (p_tenant, v_rev, 0, IF(v_live IS NULL, 'expire', 'delete'), p_key, v_old, v_expires, v_metadata,
          NULL, p_now_ms);
    END IF;
  END IF;
  COMMIT;
  SELECT v_id IS NOT NULL AS tenant, v_history AS history, v_cond AS cond, v_live AS current_version,
    IF(v_cond AND v_old IS NOT NULL, v_rev, NULL) AS version, v_live IS NOT NULL AS deleted;
END`;

const PURGE = `
CREATE PROCEDURE tenantkv_purge_expired_v3(IN chunk_rows INT, IN max_chunks INT)
BEGIN
  DECLARE tid, rev BIGINT;
  DECLARE freed BIGINT;
  DECLARE removed BIGINT;
  DECLARE now_s BIGINT;
  DECLARE chunks INT DEFAULT 0;
  SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
  purge_loop: WHILE chunks < max_chunks DO
    SET now_s = UNIX_TIMESTAMP();
    SET tid = (SELECT tenant_id FROM objects WHERE expires_at <= now_s ORDER BY expires_at LIMIT 1);
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
  const mysql = isMysql(knex);
  await knex.schema.alterTable('tenants', (t) => {
    t.integer('history_depth').notNullable().defaultTo(0);
    t.bigInteger('history_bytes').notNullable().defaultTo(0);
  });
  await knex.schema.alterTable('objects', (t) => {
    t.bigInteger('written_at').nullable();
  });
  await knex.schema.createTable('object_history', (t) => {
    mysqlTable(knex, t);
    t.bigInteger('tenant_id').unsigned().notNullable();
    if (mysql) t.specificType('k', 'VARBINARY(2048)').notNullable();
    else t.text('k').notNullable();
    t.bigInteger('version').notNullable();
    // Null for a tombstone (`deleted`): the version a delete made.
    t.text('value', 'mediumtext').nullable();
    t.text('metadata').nullable();
    t.integer('size').notNullable();
    t.bigInteger('expires_at').nullable();
    t.bigInteger('written_at').nullable();
    t.boolean('deleted').notNullable().defaultTo(false);
    t.primary(['tenant_id', 'k', 'version']);
    t.index(['tenant_id', 'version'], 'object_history_oldest');
  });
  await knex.schema.createTable('changes', (t) => {
    mysqlTable(knex, t);
    t.bigInteger('tenant_id').unsigned().notNullable();
    t.bigInteger('revision').notNullable();
    // The change's place among those of its revision (a batch's items share one revision).
    t.integer('seq').notNullable();
    t.string('type', 8).notNullable();
    if (mysql) t.specificType('k', 'VARBINARY(2048)').notNullable();
    else t.text('k').notNullable();
    t.integer('size').notNullable();
    t.bigInteger('expires_at').nullable();
    t.text('metadata').nullable();
    // A put's value, for watchers that asked for values; null for deletes and expiries.
    t.text('value', 'mediumtext').nullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['tenant_id', 'revision', 'seq']);
    t.index(['created_at'], 'changes_created_at');
  });
  await knex.schema.createTable('change_floors', (t) => {
    mysqlTable(knex, t);
    t.bigInteger('tenant_id').unsigned().notNullable().primary();
    t.bigInteger('floor').notNullable();
  });
  // One row per open change stream, kept alive by its process: the per-tenant limit holds across processes.
  await knex.schema.createTable('feed_watchers', (t) => {
    mysqlTable(knex, t);
    t.string('id', 40).primary();
    t.bigInteger('tenant_id').unsigned().notNullable();
    t.string('process', 64).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['tenant_id', 'expires_at'], 'feed_watchers_tenant');
    t.index(['process'], 'feed_watchers_process');
  });
  if (!mysql) return;
  await createRoutines(knex, 'write and purge procedures (versions 4 and 3)', [
    'DROP PROCEDURE IF EXISTS tenantkv_put_v4',
    PUT,
    'DROP PROCEDURE IF EXISTS tenantkv_delete_v4',
    DELETE,
    'DROP PROCEDURE IF EXISTS tenantkv_purge_expired_v3',
    PURGE,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  if (isMysql(knex)) {
    for (const name of ['tenantkv_put_v4', 'tenantkv_delete_v4', 'tenantkv_purge_expired_v3']) {
      await knex.raw(`DROP PROCEDURE IF EXISTS ${name}`);
    }
  }
  await knex.schema.dropTableIfExists('feed_watchers');
  await knex.schema.dropTableIfExists('change_floors');
  await knex.schema.dropTableIfExists('changes');
  await knex.schema.dropTableIfExists('object_history');
  await knex.schema.alterTable('objects', (t) => {
    t.dropColumn('written_at');
  });
  await knex.schema.alterTable('tenants', (t) => {
    t.dropColumn('history_bytes');
    t.dropColumn('history_depth');
  });
}
