import type { Knex } from 'knex';
import { isMysql, isPrivilegeError } from '../schema';

export const config = { transaction: false };

/**
 * MySQL/MariaDB only: a procedure that purges expired objects in bounded chunks, one tenant at a time, and
 * refunds their bytes in the same transaction; and an EVENT that calls it. The procedure locks the tenant row
 * first, as every writer does, so the chunk it sums is exactly the chunk it deletes and no lock order is
 * reversed. Without the CREATE ROUTINE or EVENT privilege the migration still succeeds and the service purges
 * in process instead (see purge-service).
 */
const PURGE_PROCEDURE = `
CREATE PROCEDURE tenantkv_purge_expired(IN chunk_rows INT, IN max_chunks INT)
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
      ORDER BY expires_at, k LIMIT chunk_rows
    ) AS chunk;
    DELETE FROM objects WHERE expires_at <= now_s AND tenant_id = tid ORDER BY expires_at, k LIMIT chunk_rows;
    UPDATE tenants SET utilised = utilised - freed, object_count = object_count - removed WHERE id = tid;
    COMMIT;
    SET chunks = chunks + 1;
  END WHILE;
END`;

const PURGE_EVENT = 'tenantkv_purge';

/** The event's body: one run purges at most 1000 chunks. The service keeps `chunkRows` in step with its setting. */
function purgeEventBody(chunkRows: number): string {
  return `CALL tenantkv_purge_expired(${Math.trunc(chunkRows)}, 1000)`;
}

export async function up(knex: Knex): Promise<void> {
  if (!isMysql(knex)) return;
  try {
    await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_purge_expired');
    await knex.raw(PURGE_PROCEDURE);
    await knex.raw(`DROP EVENT IF EXISTS ${PURGE_EVENT}`);
    await knex.raw(
      `CREATE EVENT ${PURGE_EVENT} ON SCHEDULE EVERY 60 SECOND ON COMPLETION PRESERVE ENABLE DO ${purgeEventBody(1000)}`,
    );
  } catch (err) {
    if (!isPrivilegeError(err)) throw err;
    process.emitWarning(`purge event not created (${(err as Error).message}); the service will purge in process`);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (!isMysql(knex)) return;
  await knex.raw(`DROP EVENT IF EXISTS ${PURGE_EVENT}`);
  await knex.raw('DROP PROCEDURE IF EXISTS tenantkv_purge_expired');
}
