import type { Knex } from 'knex';

/**
 * What the migrations share. A migration is frozen once it has shipped: it imports nothing from src/, which
 * changes, and carries its own SQL; only these facts about the databases are common to all of them.
 */

/** MySQL-only DDL (procedures, events, charsets, binary columns) is guarded by this. */
export function isMysql(knex: Knex): boolean {
  return (knex.client as { config: Knex.Config }).config.client === 'mysql2';
}

/** Every table: utf8mb4 with byte-wise comparison, InnoDB (row locks, transactions). */
export function mysqlTable(knex: Knex, t: Knex.CreateTableBuilder): void {
  if (!isMysql(knex)) return;
  t.charset('utf8mb4');
  t.collate('utf8mb4_bin');
  t.engine('InnoDB');
}

const privilegeErrors = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_EVENTS_DB_ERROR',
  'ER_EVENT_CANNOT_CREATE_IN_THE_PAST',
  'ER_NOT_SUPPORTED_YET',
  'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER',
]);

/** True when MySQL refused a CREATE for lack of a privilege or feature (managed and distributed engines). */
export function isPrivilegeError(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && privilegeErrors.has(code);
}

/**
 * Creates procedures (and events) where the database user may; where it may not, the migration still succeeds
 * and the service falls back to what needs no privilege, saying so at start.
 */
export async function createRoutines(knex: Knex, what: string, statements: string[]): Promise<void> {
  try {
    for (const sql of statements) await knex.raw(sql);
  } catch (err) {
    if (!isPrivilegeError(err)) throw err;
    process.emitWarning(`${what} not created (${(err as Error).message})`);
  }
}
