/**
 * The vocabulary of a write: what a client asks (commands, with their preconditions), what a stored object is to
 * a write, and what a write answers. Pure: no SQL, no HTTP.
 */

/** A precondition on one key (RFC 9110 If-Match / If-None-Match, or a batch item's if_version / if_absent). */
export type Precondition = { kind: 'version'; versions: number[] } | { kind: 'exists' } | { kind: 'absent' };

/** One object to write: `value` is its compact JSON text; `size` counts its value's and metadata's UTF-8 bytes. */
export interface ObjectWrite {
  key: string;
  value: string;
  /** Compact JSON of the metadata object, or null for none. */
  metadata: string | null;
  size: number;
  expiresAt: number | null;
  precondition?: Precondition;
}

/**
 * A stored object as the write that replaces or removes it sees it, read with a locking read. Its value and
 * metadata are read only where the tenant keeps history (they become a kept version).
 */
export interface LockedRow {
  key: string;
  size: number;
  version: number;
  expiresAt: number | null;
  value?: string;
  metadata?: string | null;
  writtenAtMs?: number | null;
}

export type WriteCommand =
  /** Creates or replaces these objects (distinct keys), all or none. */
  | { kind: 'put'; writes: ObjectWrite[] }
  /**
   * Removes these keys (distinct), all or none; a key that is not there is no error. `delete` is a client's
   * (kept in history, where the tenant keeps it); `expire` the purge's and `erase` a tenant deletion's (neither
   * keeps anything).
   */
  | { kind: 'delete' | 'expire' | 'erase'; keys: string[]; precondition?: Precondition };

/** A key whose precondition did not hold, and the version it has (null: it does not exist). */
export interface FailedPrecondition {
  key: string;
  currentVersion: number | null;
}

/** What a write did; the HTTP layer maps each to a status (objects.controller.ts). */
export type WriteOutcome =
  /** `version` is the revision the write took; `deleted`, how many live objects a delete removed. */
  | { status: 'written'; version: number; deleted: number }
  /** Nothing changed: a delete of keys that are not there. */
  | { status: 'unchanged'; deleted: 0 }
  | { status: 'precondition_failed'; failed: FailedPrecondition[] }
  | { status: 'quota_exceeded' }
  | { status: 'no_tenant' };

export function isExpired(expiresAt: number | null, nowSeconds: number): boolean {
  return expiresAt !== null && expiresAt <= nowSeconds;
}

/** The version a key has for a reader at `now`: expired objects are absent. */
export function liveVersion(row: Pick<LockedRow, 'version' | 'expiresAt'> | undefined, now: number): number | null {
  return row && !isExpired(row.expiresAt, now) ? row.version : null;
}

/** Whether a precondition holds for a key whose live version is `current` (null: absent). */
export function holds(precondition: Precondition | undefined, current: number | null): boolean {
  if (!precondition) return true;
  switch (precondition.kind) {
    case 'exists':
      return current !== null;
    case 'absent':
      return current === null;
    case 'version':
      return current !== null && precondition.versions.includes(current);
  }
}
