import { ledgerAllows, type LockedTenant } from '../quota';
import type { Change } from '../changes';
import type { HistoryEntry, HistoryRef } from '../history';
import {
  holds,
  isExpired,
  liveVersion,
  type FailedPrecondition,
  type LockedRow,
  type WriteCommand,
  type WriteOutcome,
} from './write-model';

/** What a key holds: a stored row, or an object a command of this unit wrote. */
interface Held {
  key: string;
  size: number;
  version: number;
  expiresAt: number | null;
  /** Known for what this unit wrote, and for rows read where the tenant keeps history. */
  value?: string;
  metadata?: string | null;
  writtenAtMs?: number | null;
}

/** A kept version of a key: one in the database (`entry` undefined), or one this unit adds (`entry`). */
interface Kept extends HistoryRef {
  entry?: HistoryEntry;
}

interface KeyState {
  /** The row in the database now (read with a locking read), or null for none. */
  row: LockedRow | null;
  /** What the key holds after the commands decided so far: null for nothing. */
  object: Held | null;
  /** True once a command of this unit wrote the key: its object must be written at the end. */
  written: boolean;
  /** Its kept versions, oldest first. */
  history: Kept[];
}

/** What the unit decided to write, for the pipeline to send to the database. */
export interface UnitChanges {
  upserts: (Held & { value: string; metadata: string | null; exists: boolean })[];
  deletes: string[];
  historyInserts: HistoryEntry[];
  historyDeletes: HistoryRef[];
  changes: Change[];
  bytes: number;
  historyBytes: number;
  objects: number;
  revisions: number;
}

/** A command that fits only once some history makes room: the pipeline evicts the oldest, then it is written. */
export type Decision = WriteOutcome | { status: 'needs_room' };

/**
 * The decisions of one unit of work, in memory and pure: the tenant's locked ledger, the keys its commands touch
 * and their kept versions, and what each command does to them, decided in order. The pipeline reads the rows in,
 * lets the unit decide, and writes out what the unit says changed (`changes`).
 *
 * History (a tenant's `history_depth` > 0): an overwrite or delete of a live object keeps the replaced version,
 * a delete adds a tombstone; a key keeps its newest `depth` versions (tombstones older than the oldest of them
 * go too). History bytes are stored bytes, so they count toward the quota, but never cause a refusal: a command
 * that fits once history is gone `needs_room`, and the tenant's oldest versions (lowest version first, whatever
 * their key) are evicted until it fits. One that would not fit even with no history at all is refused.
 */
export class WriteUnit {
  private readonly keys = new Map<string, KeyState>();
  private readonly changeLog: Change[] = [];
  private readonly removedHistory: HistoryRef[] = [];
  private readonly removedHistoryIds = new Set<string>();
  private utilised: number;
  private historyBytes: number;
  private objects: number;
  private revision: number;
  /** What to restore when the command being decided is taken back. */
  private undo: { keys: Map<string, KeyState | undefined>; scalars: number[]; logs: number[] } | undefined;

  constructor(
    private readonly tenant: LockedTenant,
    rows: ReadonlyMap<string, LockedRow>,
    history: HistoryRef[],
    private readonly now: number,
    private readonly nowMs: number,
  ) {
    this.utilised = tenant.utilised;
    this.historyBytes = tenant.historyBytes;
    this.objects = tenant.objects;
    this.revision = tenant.revision;
    for (const [key, row] of rows) this.keys.set(key, { row, object: row, written: false, history: [] });
    for (const ref of history) this.state(ref.key).history.push({ ...ref });
  }

  /** Decides one command against the state the earlier ones left; applies it when it is written. */
  decide(command: WriteCommand): Decision {
    const failed = this.failedPreconditions(command);
    if (failed.length > 0) return { status: 'precondition_failed', failed };
    const before = { utilised: this.utilised, history: this.historyBytes };
    this.checkpoint(command);
    const outcome = this.apply(command);
    const total = this.utilised - before.utilised;
    const ledger = { provisioned: this.tenant.provisioned, utilised: before.utilised };
    if (ledgerAllows(ledger, total)) {
      this.undo = undefined;
      return outcome;
    }
    const live = total - (this.historyBytes - before.history);
    const withoutHistory = { provisioned: this.tenant.provisioned, utilised: before.utilised - before.history };
    if (!ledgerAllows(withoutHistory, live)) {
      this.takeBack();
      return { status: 'quota_exceeded' };
    }
    return { status: 'needs_room' };
  }

  /** Takes back the command `decide` left waiting for room (to reclaim expired objects first, say). */
  takeBack(): void {
    const undo = this.undo;
    if (!undo) return;
    for (const [key, state] of undo.keys) {
      if (state) this.keys.set(key, state);
      else this.keys.delete(key);
    }
    [this.utilised, this.historyBytes, this.objects, this.revision] = undo.scalars;
    this.changeLog.length = undo.logs[0];
    this.removedHistory.splice(undo.logs[1]).forEach((r) => this.removedHistoryIds.delete(refId(r)));
    this.undo = undefined;
  }

  /** Bytes the waiting command is over the quota by (0 once history has made room). */
  shortBy(): number {
    return Math.max(0, this.utilised - this.tenant.provisioned);
  }

  /**
   * Evicts kept versions, lowest version first, until the waiting command fits: from `candidates` (the tenant's
   * oldest in the database, in order, up to version `upTo`) and this unit's own, merged. Returns the outcome once
   * it fits, or undefined when more candidates are needed.
   */
  evict(candidates: HistoryRef[], upTo: number): WriteOutcome | undefined {
    const own = [...this.keys.values()].flatMap((s) => s.history).filter((k) => k.version <= upTo);
    const known = new Set(own.map(refId));
    const pool: HistoryRef[] = [
      ...own,
      ...candidates.filter((c) => !known.has(refId(c)) && !this.removedHistoryIds.has(refId(c))),
    ].sort((a, b) => a.version - b.version);
    for (const ref of pool) {
      if (this.shortBy() === 0) break;
      this.dropKept(ref);
    }
    if (this.shortBy() > 0) return undefined;
    this.undo = undefined;
    return { status: 'written', version: this.revision, deleted: 0 };
  }

  /**
   * The database has just deleted these rows of expired objects (a reclaim): keys no command of this unit has
   * written are gone, refunded, and recorded as expired in a revision of their own; a key one has written keeps
   * the object decided, whose charge already replaced the expired one's.
   */
  reclaimed(rows: LockedRow[]): void {
    let revision: number | undefined;
    let seq = 0;
    for (const row of rows) {
      const state = this.keys.get(row.key);
      if (state?.written) {
        state.row = null;
        continue;
      }
      this.utilised -= row.size;
      this.objects -= 1;
      this.keys.set(row.key, { row: null, object: null, written: false, history: state?.history ?? [] });
      revision ??= ++this.revision;
      this.changeLog.push(change(revision, seq++, 'expire', row, null));
    }
  }

  /** What to write: objects, kept versions, change records, and the ledger's move. */
  changes(): UnitChanges {
    const upserts: UnitChanges['upserts'] = [];
    const deletes: string[] = [];
    const historyInserts: HistoryEntry[] = [];
    for (const [key, state] of this.keys) {
      for (const kept of state.history) if (kept.entry) historyInserts.push(kept.entry);
      if (!state.written) continue;
      const object = state.object;
      if (object !== null) {
        upserts.push({
          ...object,
          value: object.value as string,
          metadata: object.metadata ?? null,
          exists: state.row !== null,
        });
      } else if (state.row !== null) deletes.push(key);
    }
    return {
      upserts,
      deletes,
      historyInserts,
      historyDeletes: this.removedHistory,
      changes: this.changeLog,
      bytes: this.utilised - this.tenant.utilised,
      historyBytes: this.historyBytes - this.tenant.historyBytes,
      objects: this.objects - this.tenant.objects,
      revisions: this.revision - this.tenant.revision,
    };
  }

  private apply(command: WriteCommand): WriteOutcome {
    if (command.kind === 'put') {
      const version = ++this.revision;
      command.writes.forEach((w, seq) => {
        const state = this.state(w.key);
        this.keep(state, state.object);
        this.trim(state);
        this.hold(state, { ...w, version, writtenAtMs: this.nowMs });
        this.changeLog.push(change(version, seq, 'put', w, w.value));
      });
      return { status: 'written', version, deleted: 0 };
    }
    const present = command.keys.filter((key) => this.state(key).object !== null);
    if (present.length === 0) return { status: 'unchanged', deleted: 0 };
    const version = ++this.revision;
    let deleted = 0;
    present.forEach((key, seq) => {
      const state = this.state(key);
      const object = state.object as Held;
      const live = !isExpired(object.expiresAt, this.now);
      if (live) deleted++;
      if (command.kind === 'delete') {
        this.keep(state, object);
        if (live && this.tenant.historyDepth > 0) this.addKept(state, tombstone(key, version, this.nowMs));
        this.trim(state);
      }
      this.hold(state, null);
      if (command.kind !== 'erase')
        this.changeLog.push(
          change(version, seq, live && command.kind === 'delete' ? 'delete' : 'expire', object, null),
        );
    });
    return { status: 'written', version, deleted };
  }

  /** Where the tenant keeps history: the version an overwrite or delete replaces, if it is live. */
  private keep(state: KeyState, replaced: Held | null): void {
    if (this.tenant.historyDepth === 0 || replaced === null || isExpired(replaced.expiresAt, this.now)) return;
    this.addKept(state, {
      key: replaced.key,
      version: replaced.version,
      value: replaced.value ?? null,
      metadata: replaced.metadata ?? null,
      size: replaced.size,
      expiresAt: replaced.expiresAt,
      writtenAtMs: replaced.writtenAtMs ?? null,
      deleted: false,
    });
  }

  private addKept(state: KeyState, entry: HistoryEntry): void {
    state.history.push({ key: entry.key, version: entry.version, size: entry.size, deleted: entry.deleted, entry });
    state.history.sort((a, b) => a.version - b.version);
    this.historyBytes += entry.size;
    this.utilised += entry.size;
  }

  /**
   * Drops what the depth no longer keeps of a key written: its oldest versions beyond the depth (all of them at
   * depth 0, say after the operator turned history off), and tombstones older than the oldest version kept.
   */
  private trim(state: KeyState): void {
    const versions = state.history.filter((k) => !k.deleted);
    const depth = this.tenant.historyDepth;
    const oldestKept = depth === 0 ? Infinity : (versions[Math.max(0, versions.length - depth)]?.version ?? -1);
    for (const kept of [...state.history]) {
      if (kept.version < oldestKept) this.dropKept(kept);
    }
  }

  /** Forgets a kept version: this unit's never reaches the database, a stored one is deleted. */
  private dropKept(ref: HistoryRef): void {
    const id = refId(ref);
    if (this.removedHistoryIds.has(id)) return;
    const state = this.keys.get(ref.key);
    const index = state ? state.history.findIndex((k) => k.version === ref.version) : -1;
    const kept = index >= 0 ? (state as KeyState).history.splice(index, 1)[0] : undefined;
    if (!kept?.entry) {
      this.removedHistory.push({ key: ref.key, version: ref.version, size: ref.size, deleted: ref.deleted });
      this.removedHistoryIds.add(id);
    }
    this.historyBytes -= ref.size;
    this.utilised -= ref.size;
  }

  private hold(state: KeyState, object: Held | null): void {
    const old = state.object;
    this.utilised += (object?.size ?? 0) - (old?.size ?? 0);
    this.objects += (object ? 1 : 0) - (old ? 1 : 0);
    state.object = object;
    state.written = true;
  }

  private checkpoint(command: WriteCommand): void {
    const keys = new Map<string, KeyState | undefined>();
    for (const key of command.kind === 'put' ? command.writes.map((w) => w.key) : command.keys) {
      const state = this.keys.get(key);
      keys.set(key, state && { ...state, history: [...state.history] });
    }
    this.undo = {
      keys,
      scalars: [this.utilised, this.historyBytes, this.objects, this.revision],
      logs: [this.changeLog.length, this.removedHistory.length],
    };
  }

  private failedPreconditions(command: WriteCommand): FailedPrecondition[] {
    const checks =
      command.kind === 'put'
        ? command.writes.map((w) => [w.key, w.precondition] as const)
        : command.keys.map((key) => [key, command.precondition] as const);
    return checks
      .map(([key, precondition]) => ({
        key,
        precondition,
        current: liveVersion(this.state(key).object ?? undefined, this.now),
      }))
      .filter(({ precondition, current }) => !holds(precondition, current))
      .map(({ key, current }) => ({ key, currentVersion: current }));
  }

  private state(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = { row: null, object: null, written: false, history: [] }));
    return state;
  }
}

function refId(ref: HistoryRef): string {
  return `${ref.version}\u0000${ref.key}`;
}

function tombstone(key: string, version: number, nowMs: number): HistoryEntry {
  return { key, version, value: null, metadata: null, size: 0, expiresAt: null, writtenAtMs: nowMs, deleted: true };
}

function change(
  revision: number,
  seq: number,
  type: Change['type'],
  object: { key: string; size: number; expiresAt: number | null; metadata?: string | null },
  value: string | null,
): Change {
  return {
    revision,
    seq,
    type,
    key: object.key,
    size: object.size,
    expiresAt: object.expiresAt,
    metadata: object.metadata ?? null,
    value,
  };
}

/** Every key a list of commands names, once each. */
export function keysOf(commands: WriteCommand[]): string[] {
  const keys = new Set<string>();
  for (const c of commands) for (const key of c.kind === 'put' ? c.writes.map((w) => w.key) : c.keys) keys.add(key);
  return [...keys];
}
