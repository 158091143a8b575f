/**
 * MySQL/MariaDB only (where the dialect has `multiStatements`): the hot single-object writes as one round trip
 * each. The tenant row is locked, the old size read, the quota decided and the rows written without a round
 * trip to the service while the lock is held, so writers of one tenant queue for microseconds, not for the
 * service's event loop. User variables carry values between statements; each script resets them first,
 * because they live as long as the pooled connection. The decision is the same as ledgerAllows().
 */

/** Bindings: tenantId, key, size, tenantId, tenantId, key, value, size, expiresAt. Last result: ok, tenant, old_size. */
export const PUT_ONE = `
SET @prov := NULL, @util := NULL, @old := NULL;
START TRANSACTION;
SELECT provisioned, utilised INTO @prov, @util FROM tenants WHERE id = ? AND deleted = 0 FOR UPDATE;
SELECT size INTO @old FROM objects WHERE tenant_id = ? AND k = ?;
SET @delta := ? - COALESCE(@old, 0);
SET @ok := @prov IS NOT NULL AND (@delta <= 0 OR @util + @delta <= @prov);
UPDATE tenants SET utilised = utilised + @delta, object_count = object_count + (@old IS NULL) WHERE id = ? AND @ok;
INSERT INTO objects (tenant_id, k, value, size, expires_at)
  SELECT * FROM (SELECT ? AS tenant_id, ? AS k, ? AS value, ? AS size, ? AS expires_at) AS n WHERE @ok
  ON DUPLICATE KEY UPDATE value = n.value, size = n.size, expires_at = n.expires_at;
COMMIT;
SELECT @ok AS ok, @prov IS NOT NULL AS tenant`;

/** Bindings: tenantId, tenantId, key, tenantId, key, tenantId. */
export const DELETE_ONE = `
SET @tid := NULL, @old := NULL;
START TRANSACTION;
SELECT id INTO @tid FROM tenants WHERE id = ? FOR UPDATE;
SELECT size INTO @old FROM objects WHERE tenant_id = ? AND k = ?;
DELETE FROM objects WHERE tenant_id = ? AND k = ? AND @old IS NOT NULL;
UPDATE tenants SET utilised = utilised - @old, object_count = object_count - 1 WHERE id = ? AND @old IS NOT NULL;
COMMIT`;
