import type { Knex } from 'knex';
import { createRoutines, isMysql } from '../schema';

export const config = { transaction: false };

/**
 * The key space: every object records the revision of its last write (`version`) and optional `metadata` (its
 * compact JSON; the object's `size` counts the value's and the metadata's bytes). Keys may be up to 512 code
 * points: 2048 bytes of UTF-8, still within InnoDB's 3072-byte index key with the tenant id.
 *
 * MySQL/MariaDB: the write and delete procedures, version 3, take preconditions (none; the key exists; it does
 * not; its live version is one of a list) and the service's `now` (an expired object is absent to a
 * precondition), write versions and metadata, and answer the version written. Version 2 stays for instances of
 * the previous release during a rolling upgrade; nothing of this release calls it.
 */
const PUT = `
CREATE PROCEDURE tenantkv_put_v3(IN p_tenant BIGINT, IN p_key VARBINARY(2048),
  IN p_value MEDIUMTEXT CHARACTER SET utf8mb4, IN p_metadata TEXT CHARACTER SET utf8mb4, IN p_size INT,
  IN p_expires BIGINT, IN p_now BIGINT, IN p_cond TINYINT, IN p_versions VARCHAR(1024))
BEGIN
  DECLARE v_prov, v_util, v_rev BIGINT DEFAULT NULL;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE v_version, v_expires, v_live BIGINT DEFAULT NULL;
  DECLARE v_delta BIGINT;
  DECLARE v_cond, v_ok BOOLEAN DEFAULT FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT provisioned, utilised, revision INTO v_prov, v_util, v_rev
    FROM tenants WHERE id = p_tenant AND deleted = 0 FOR UPDATE;
  IF v_prov IS NOT NULL THEN
    SELECT size, version, expires_at INTO v_old, v_version, v_expires
      FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE;
    IF v_old IS NOT NULL AND (v_expires IS NULL OR v_expires > p_now) THEN
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
          INSERT INTO objects (tenant_id, k, value, metadata, size, expires_at, version)
            VALUES (p_tenant, p_key, p_value, p_metadata, p_size, p_expires, v_rev);
        ELSE
          UPDATE objects SET value = p_value, metadata = p_metadata, size = p_size, expires_at = p_expires,
            version = v_rev WHERE tenant_id = p_tenant AND k = p_key;
        END IF;
      END IF;
    END IF;
  END IF;
  COMMIT;
  SELECT v_prov IS NOT NULL AS tenant, v_cond AS cond, v_ok AS ok, v_live AS current_version,
    IF(v_ok, v_rev, NULL) AS version;
END`;

const DELETE = `
CREATE PROCEDURE tenantkv_delete_v3(IN p_tenant BIGINT, IN p_key VARBINARY(2048), IN p_now BIGINT,
  IN p_cond TINYINT, IN p_versions VARCHAR(1024))
BEGIN
  DECLARE v_id, v_rev BIGINT DEFAULT NULL;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE v_version, v_expires, v_live BIGINT DEFAULT NULL;
  DECLARE v_cond BOOLEAN DEFAULT FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT id, revision INTO v_id, v_rev FROM tenants WHERE id = p_tenant AND deleted = 0 FOR UPDATE;
  IF v_id IS NOT NULL THEN
    SELECT size, version, expires_at INTO v_old, v_version, v_expires
      FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE;
    IF v_old IS NOT NULL AND (v_expires IS NULL OR v_expires > p_now) THEN
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
    END IF;
  END IF;
  COMMIT;
  SELECT v_id IS NOT NULL AS tenant, v_cond AS cond, v_live AS current_version,
    IF(v_cond AND v_old IS NOT NULL, v_rev, NULL) AS version, v_live IS NOT NULL AS deleted;
END`;

export async function up(knex: Knex): Promise<void> {
  const mysql = isMysql(knex);
  await knex.schema.alterTable('objects', (t) => {
    t.bigInteger('version').notNullable().defaultTo(0);
    t.text('metadata').nullable();
  });
  if (!mysql) return;
  await knex.raw('ALTER TABLE objects MODIFY k VARBINARY(2048) NOT NULL');
  await createRoutines(knex, 'write procedures (version 3)', [
    'DROP PROCEDURE IF EXISTS tenantkv_put_v3',
    PUT,
    'DROP PROCEDURE IF EXISTS tenantkv_delete_v3',
    DELETE,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  if (isMysql(knex)) {
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_put_v3');
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_delete_v3');
    await knex.raw('ALTER TABLE objects MODIFY k VARBINARY(128) NOT NULL');
  }
  await knex.schema.alterTable('objects', (t) => {
    t.dropColumn('metadata');
    t.dropColumn('version');
  });
}
