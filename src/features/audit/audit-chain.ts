import crypto from 'node:crypto';

/** What `prev_hash` of the first row is, and the head's hash while the log is empty (the migration's value). */
export const GENESIS_HASH = '0'.repeat(64);

/** A changed field's value as recorded: what the admin API takes and shows. */
export type AuditValue = string | number | boolean | null | string[];
export type AuditFields = Record<string, AuditValue>;

/** One row of the log as the API shows it; `hash` seals everything before it. */
export interface AuditEntry {
  id: number;
  /** Unix milliseconds. */
  at: number;
  /** The admin key's fingerprint; for an authentication failure, that of what was sent, null when nothing was. */
  actor: string | null;
  action: string;
  target: string;
  client_address: string | null;
  /** The changed fields' values before and after; null where there is no side (a creation has no before). */
  before: AuditFields | null;
  after: AuditFields | null;
  prev_hash: string;
  hash: string;
}

/**
 * The hash of a row: SHA-256 (hex) of the compact JSON of its fields in a fixed order, `prev_hash` last, so that
 * each row seals its own content, its id and the whole chain before it. Written with the API's field values, so
 * anyone holding an export can recompute it: `JSON.stringify([id, at, actor, action, target, client_address,
 * before, after, prev_hash])`.
 */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const canonical = JSON.stringify([
    entry.id,
    entry.at,
    entry.actor,
    entry.action,
    entry.target,
    entry.client_address,
    entry.before,
    entry.after,
    entry.prev_hash,
  ]);
  return crypto.createHash('sha256').update(canonical, 'utf8').digest('hex');
}
