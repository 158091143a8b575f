import type { Knex } from 'knex';
import * as createTenantsAndObjects from './20261122000000_create_tenants_and_objects';
import * as purgeProcedureAndEvent from './20261122000001_purge_procedure_and_event';
import * as adminTokensAndTenantLifecycle from './20261122000002_admin_tokens_and_tenant_lifecycle';
import * as userNamesComparedExactly from './20261122000003_user_names_compared_exactly';
import * as writeProcedures from './20261122000004_write_procedures';
import * as writeSequenceAndVersionedProcedures from './20261201000005_write_sequence_and_versioned_procedures';
import * as versionsMetadataAndLongKeys from './20261201000006_versions_metadata_and_long_keys';
import * as historyAndChanges from './20261201000007_history_and_changes';
import * as purgeLease from './20261201000008_purge_lease';
import * as tenantLimitsAndReadOnly from './20261203000009_tenant_limits_and_read_only';
import * as auditLog from './20261203000010_audit_log';

/**
 * The migrations, in order. Listed here rather than found on disk so that the same code runs from src/ under
 * ts-jest and from dist/ in production; a new migration is a new file plus one line below.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261122000000_create_tenants_and_objects': createTenantsAndObjects,
  '20261122000001_purge_procedure_and_event': purgeProcedureAndEvent,
  '20261122000002_admin_tokens_and_tenant_lifecycle': adminTokensAndTenantLifecycle,
  '20261122000003_user_names_compared_exactly': userNamesComparedExactly,
  '20261122000004_write_procedures': writeProcedures,
  '20261201000005_write_sequence_and_versioned_procedures': writeSequenceAndVersionedProcedures,
  '20261201000006_versions_metadata_and_long_keys': versionsMetadataAndLongKeys,
  '20261201000007_history_and_changes': historyAndChanges,
  '20261201000008_purge_lease': purgeLease,
  '20261203000009_tenant_limits_and_read_only': tenantLimitsAndReadOnly,
  '20261203000010_audit_log': auditLog,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
