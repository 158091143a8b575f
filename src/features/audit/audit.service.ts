import type { Clock } from '../../platform/clock';
import type { UnitOfWork } from '../../platform/db/unit-of-work';
import { GENESIS_HASH, entryHash, type AuditEntry, type AuditFields } from './audit-chain';
import type { AuditHead, AuditRepository, AuditRow } from './audit.repository';

/**
 * What is recorded. A PATCH of a tenant about one thing is recorded as that thing (tenant.quota, tenant.suspend…);
 * one that changes several at once is one tenant.update row with all of them.
 */
export type AuditAction =
  | 'tenant.create'
  | 'tenant.update'
  | 'tenant.quota'
  | 'tenant.suspend'
  | 'tenant.resume'
  | 'tenant.password'
  | 'tenant.history'
  | 'tenant.rate_limit'
  | 'tenant.read_only'
  | 'tenant.delete'
  | 'token.create'
  | 'token.revoke'
  | 'auth.failure';

/** Who did it: the admin key's fingerprint (never the key) and the client's address. */
export interface AuditActor {
  key: string | null;
  address: string | null;
}

export interface AuditEvent {
  actor: AuditActor;
  action: AuditAction;
  /** `tenant:<id>`, `token:<id>`, or `admin_api` for an authentication failure. */
  target: string;
  /** Only the fields that changed; a password is only ever `"changed"`. */
  before: AuditFields | null;
  after: AuditFields | null;
}

export interface AuditPageQuery {
  /** Entries after this id. */
  since?: number;
  limit?: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** The `since` of the next page: the last entry's id, or the same `since` when there was none. */
  next_since: number;
}

export interface AuditVerdict {
  ok: boolean;
  rows_checked: number;
  first_bad_id?: number;
}

const DEFAULT_PAGE = 100;
/** Rows read per query when the chain is walked, so that verifying takes the same memory whatever its length. */
const VERIFY_PAGE_ROWS = 1000;

const EMPTY_HEAD: AuditHead = { lastId: 0, hash: GENESIS_HASH };

/** The tamper-evident record of operators' actions: appending in the caller's transaction, paging, verifying. */
export class AuditService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly unit: UnitOfWork<{ audit: AuditRepository }>,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends `event` in the transaction `audit` is bound to, so that it commits or rolls back with the change it
   * records. The head row is read FOR UPDATE: a second appender, in another worker or instance, waits until the
   * first commits and then chains to its row, so no two rows share a predecessor. The head is the last lock an
   * admin transaction takes (after the tenant's row), so it is held for two statements and no lock cycle can
   * form. On a Galera cluster row locks are node-local and two nodes may read the same head; both then write the
   * same audit_log id and head row, certification aborts one at commit, and the unit of work runs it again on
   * the new head. SQLite runs one transaction at a time (BEGIN IMMEDIATE).
   */
  async append(audit: AuditRepository, event: AuditEvent): Promise<void> {
    const head = await audit.lockHead();
    if (!head) throw new Error('audit_head has no row: restore it (docs/OPERATIONS.md, "Audit log") to append again');
    const entry = {
      id: head.lastId + 1,
      at: this.clock.nowMs(),
      actor: event.actor.key,
      action: event.action,
      target: event.target,
      client_address: event.actor.address,
      before: event.before,
      after: event.after,
      prev_hash: head.hash,
    };
    await audit.append(toRow({ ...entry, hash: entryHash(entry) }));
  }

  /** Appends `event` in a transaction of its own: for what comes with no change (an authentication failure). */
  record(event: AuditEvent): Promise<void> {
    return this.unit.run(({ audit }) => this.append(audit, event));
  }

  async page(query: AuditPageQuery): Promise<AuditPage> {
    const since = query.since ?? 0;
    const entries = (await this.repository.page(since, query.limit ?? DEFAULT_PAGE)).map(entryOf);
    return { entries, next_since: entries.at(-1)?.id ?? since };
  }

  /**
   * Walks the whole chain in id order and names the first id where it breaks: a row whose hash is not that of its
   * content (altered); the first missing id (removed rows: ids are contiguous); a row past the end the head names,
   * or below the first id (inserted); a row whose hash is not what its successor, or the head, chained to
   * (rewritten together with its hash). Rows appended while it walks are walked too.
   */
  async verify(): Promise<AuditVerdict> {
    let head = await this.currentHead();
    let previous = { id: 0, hash: GENESIS_HASH };
    let checked = 0;
    let after: number | undefined;
    let headReadAfterLastPage = false;
    // The rows checked are ids 1 to `checked`; those before the bad one are the ones found intact.
    const bad = (id: number): AuditVerdict => ({
      ok: false,
      rows_checked: Math.min(checked, Math.max(id - 1, 0)),
      first_bad_id: id,
    });
    for (;;) {
      const rows = await this.repository.page(after, VERIFY_PAGE_ROWS);
      if (rows.length === 0) {
        // A head read before this page names only rows that had committed (each commits with its head).
        if (headReadAfterLastPage) {
          if (head.lastId > previous.id) return bad(previous.id + 1);
          return head.hash === previous.hash ? { ok: true, rows_checked: checked } : bad(previous.id);
        }
        head = await this.currentHead();
        headReadAfterLastPage = true;
        continue;
      }
      headReadAfterLastPage = false;
      for (const row of rows) {
        const entry = entryOf(row);
        const expected = previous.id + 1;
        if (entry.id > head.lastId) head = await this.currentHead();
        if (entry.id < expected) return bad(entry.id);
        if (entry.id > head.lastId && expected > head.lastId) return bad(entry.id);
        if (entry.id > expected) return bad(expected);
        if (entryHash(entry) !== entry.hash) return bad(entry.id);
        if (entry.prev_hash !== previous.hash) return bad(previous.id === 0 ? entry.id : previous.id);
        previous = entry;
        checked++;
      }
      after = previous.id;
    }
  }

  /** A missing head row reads as an empty log's, so that every row is then reported as out of place. */
  private async currentHead(): Promise<AuditHead> {
    return (await this.repository.head()) ?? EMPTY_HEAD;
  }
}

function toRow(entry: AuditEntry): AuditRow {
  return {
    id: entry.id,
    atMs: entry.at,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    clientAddress: entry.client_address,
    beforeJson: entry.before === null ? null : JSON.stringify(entry.before),
    afterJson: entry.after === null ? null : JSON.stringify(entry.after),
    prevHash: entry.prev_hash,
    hash: entry.hash,
  };
}

function entryOf(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.atMs,
    actor: row.actor,
    action: row.action,
    target: row.target,
    client_address: row.clientAddress,
    before: fieldsOf(row.beforeJson),
    after: fieldsOf(row.afterJson),
    prev_hash: row.prevHash,
    hash: row.hash,
  };
}

/** Text that is not JSON any more (edited by hand) is shown as it is, and fails its hash. */
function fieldsOf(text: string | null): AuditFields | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as AuditFields;
  } catch {
    return { unparsable: text };
  }
}
