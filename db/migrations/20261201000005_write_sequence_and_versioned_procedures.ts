import type { Knex } from 'knex';
import { createRoutines, isMysql } from '../schema';

export const config = { transaction: false };

/**
 * Every transaction that changes a tenant's objects now changes that tenant's row too: `revision` counts them.
 * On a multi-primary cluster (Galera) a row lock taken on one node does not block another node; only a row both
 * transactions change makes the cluster see that they conflict, so a write that changed no ledger column (a
 * same-size overwrite, a batch whose sizes net to zero) could slip past a concurrent purge or reclaim.
 *
 * MySQL/MariaDB: the write and delete procedures and the purge procedure, as version 2 (the service checks at
 * start that the version it expects is installed, else it writes through plain transactions and says so).
 * They take the tenant's row lock first, read every row they change or count with a locking read, and bump
 * `revision`. The service points the purge EVENT at version 2 when it starts (purge.service.ts), as it keeps the
 * event's schedule in step. Version 1 is left in place for instances of the previous release still running during a rolling
 * upgrade; nothing of this release calls it.
 */
const PUT = `
CREATE PROCEDURE tenantkv_put_v2(IN p_tenant BIGINT, IN p_key VARBINARY(128),
  IN p_value MEDIUMTEXT CHARACTER SET utf8mb4, IN p_size INT, IN p_expires BIGINT)
BEGIN
  DECLARE v_prov, v_util BIGINT DEFAULT NULL;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE v_delta BIGINT;
  DECLARE v_ok BOOLEAN DEFAULT FALSE;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT provisioned, utilised INTO v_prov, v_util FROM tenants WHERE id = p_tenant AND deleted = 0 FOR UPDATE;
  IF v_prov IS NOT NULL THEN
    SET v_old = (SELECT size FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE);
    SET v_delta = p_size - COALESCE(v_old, 0);
    SET v_ok = v_delta <= 0 OR v_util + v_delta <= v_prov;
    IF v_ok THEN
      UPDATE tenants SET utilised = utilised + v_delta, object_count = object_count + (v_old IS NULL),
        revision = revision + 1 WHERE id = p_tenant;
      IF v_old IS NULL THEN
        INSERT INTO objects (tenant_id, k, value, size, expires_at) VALUES (p_tenant, p_key, p_value, p_size, p_expires);
      ELSE
        UPDATE objects SET value = p_value, size = p_size, expires_at = p_expires WHERE tenant_id = p_tenant AND k = p_key;
      END IF;
    END IF;
  END IF;
  COMMIT;
  SELECT v_ok AS ok, v_prov IS NOT NULL AS tenant;
END`;

const DELETE = `
CREATE PROCEDURE tenantkv_delete_v2(IN p_tenant BIGINT, IN p_key VARBINARY(128))
BEGIN
  DECLARE v_id BIGINT DEFAULT NULL;
  DECLARE v_old INT DEFAULT NULL;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT id INTO v_id FROM tenants WHERE id = p_tenant FOR UPDATE;
  SET v_old = (SELECT size FROM objects WHERE tenant_id = p_tenant AND k = p_key FOR UPDATE);
  IF v_id IS NOT NULL AND v_old IS NOT NULL THEN
    DELETE FROM objects WHERE tenant_id = p_tenant AND k = p_key;
    UPDATE tenants SET utilised = utilised - v_old, object_count = object_count - 1, revision = revision + 1
      WHERE id = p_tenant;
  END IF;
  COMMIT;
  SELECT v_id IS NOT NULL AS tenant, v_old IS NOT NULL AS deleted;
END`;

const PURGE = `
CREATE PROCEDURE tenantkv_purge_expired_v2(IN chunk_rows INT, IN max_chunks INT)
BEGIN
  DECLARE tid BIGINT;
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
    SELECT id INTO tid FROM tenants WHERE id = tid FOR UPDATE;
    SELECT COALESCE(SUM(size), 0), COUNT(*) INTO freed, removed FROM (
      SELECT size FROM objects WHERE expires_at <= now_s AND tenant_id = tid
      ORDER BY expires_at, k LIMIT chunk_rows FOR UPDATE
    ) AS chunk;
    DELETE FROM objects WHERE expires_at <= now_s AND tenant_id = tid ORDER BY expires_at, k LIMIT chunk_rows;
    UPDATE tenants SET utilised = utilised - freed, object_count = object_count - removed,
      revision = revision + (removed > 0) WHERE id = tid;
    COMMIT;
    SET chunks = chunks + 1;
  END WHILE;
END`;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenants', (t) => {
    t.bigInteger('revision').notNullable().defaultTo(0);
  });
  if (!isMysql(knex)) return;
  await createRoutines(knex, 'write and purge procedures (version 2)', [
    'DROP PROCEDURE IF EXISTS tenantkv_put_v2',
    PUT,
    'DROP PROCEDURE IF EXISTS tenantkv_delete_v2',
    DELETE,
    'DROP PROCEDURE IF EXISTS tenantkv_purge_expired_v2',
    PURGE,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  if (isMysql(knex)) {
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_put_v2');
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_delete_v2');
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_purge_expired_v2');
  }
  await knex.schema.alterTable('tenants', (t) => {
    t.dropColumn('revision');
  });
}
