/**
 * MySQL/MariaDB: the purge that the EVENT runs, as this release expects it (migration 20261203000009 created
 * it; the service re-creates it from this text where it is missing, once the privilege has been granted). It
 * purges expired objects in bounded chunks, one tenant at a time, and refunds their bytes in the same
 * transaction. Like every writer it locks the tenant's row first, reads the chunk it deletes with a locking
 * read, records an `expire` change for each object (the change feed), and moves the tenant's revision. It leaves
 * read-only tenants alone: an operator froze them.
 */
export const PURGE_PROCEDURE_NAME = 'tenantkv_purge_expired_v4';

export const PURGE_PROCEDURE = `
CREATE PROCEDURE ${PURGE_PROCEDURE_NAME}(IN chunk_rows INT, IN max_chunks INT)
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

export const PURGE_EVENT = 'tenantkv_purge';

/** One run of the event purges at most this many chunks. */
const CHUNKS_PER_EVENT_RUN = 1000;

/** The event's body; the service keeps `chunkRows` in step with PURGE_CHUNK_ROWS. */
export function purgeEventBody(chunkRows: number): string {
  return `CALL ${PURGE_PROCEDURE_NAME}(${Math.trunc(chunkRows)}, ${CHUNKS_PER_EVENT_RUN})`;
}
