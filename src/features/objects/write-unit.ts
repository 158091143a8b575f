import { ledgerAllows, type LockedTenant } from '../quota';
import {
  holds,
  liveVersion,
  type FailedPrecondition,
  type LockedRow,
  type ObjectWrite,
  type WriteCommand,
  type WriteOutcome,
} from './write-model';

/** A key as the unit sees it: the row the database holds now, and the object the unit has decided it becomes. */
interface KeyState {
  /** The row in the database (read with a locking read), or null for none. */
  row: LockedRow | null;
  /** What the key holds after the commands decided so far: null for nothing. */
  object: (ObjectWrite & { version: number }) | LockedRow | null;
  /** True once a command of this unit wrote the key: its object must be written at the end. */
  written: boolean;
}

/**
 * The decisions of one unit of work, in memory and pure: the tenant's locked ledger, the keys its commands
 * touch, and what each command does to them, decided in order. The pipeline reads the rows in, lets the unit
 * decide, and writes out what the unit says changed (`changes`).
 */
export class WriteUnit {
  private readonly keys = new Map<string, KeyState>();
  private utilised: number;
  private objects: number;
  private revision: number;

  constructor(
    private readonly tenant: LockedTenant,
    rows: ReadonlyMap<string, LockedRow>,
    private readonly now: number,
  ) {
    this.utilised = tenant.utilised;
    this.objects = tenant.objects;
    this.revision = tenant.revision;
    for (const [key, row] of rows) this.keys.set(key, { row, object: row, written: false });
  }

  /** Decides one command against the state the earlier ones left; applies it when it is written. */
  decide(command: WriteCommand): WriteOutcome {
    const failed = this.failedPreconditions(command);
    if (failed.length > 0) return { status: 'precondition_failed', failed };
    if (command.kind === 'put') {
      const delta = command.writes.reduce((sum, w) => sum + w.size - (this.state(w.key).object?.size ?? 0), 0);
      if (!ledgerAllows({ provisioned: this.tenant.provisioned, utilised: this.utilised }, delta)) {
        return { status: 'quota_exceeded' };
      }
      const version = ++this.revision;
      for (const w of command.writes) this.set(w.key, { ...w, version }, true);
      return { status: 'written', version, deleted: 0 };
    }
    const live = command.keys.filter((key) => liveVersion(this.objectOf(key), this.now) !== null).length;
    const present = command.keys.filter((key) => this.state(key).object !== null);
    if (present.length === 0) return { status: 'unchanged', deleted: 0 };
    const version = ++this.revision;
    for (const key of present) this.set(key, null, true);
    return { status: 'written', version, deleted: live };
  }

  /**
   * The database has just deleted these rows of expired objects (a reclaim): keys no command of this unit has
   * written are gone and refunded; a key one has written keeps the object decided, whose charge already replaced
   * the expired one's. Returns the revision the reclaim takes, or undefined when it removed nothing.
   */
  reclaimed(rows: LockedRow[]): number | undefined {
    let removed = 0;
    for (const row of rows) {
      const state = this.keys.get(row.key);
      if (state?.written) {
        state.row = null;
        continue;
      }
      this.utilised -= row.size;
      this.objects -= 1;
      this.keys.set(row.key, { row: null, object: null, written: false });
      removed++;
    }
    return removed > 0 ? ++this.revision : undefined;
  }

  /** What to write: objects to create or replace, keys to delete, and the ledger's move. */
  changes(): {
    upserts: (ObjectWrite & { version: number; exists: boolean })[];
    deletes: string[];
    bytes: number;
    objects: number;
    revisions: number;
  } {
    const upserts: (ObjectWrite & { version: number; exists: boolean })[] = [];
    const deletes: string[] = [];
    for (const [key, state] of this.keys) {
      if (!state.written) continue;
      if (state.object !== null)
        upserts.push({ ...(state.object as ObjectWrite & { version: number }), exists: state.row !== null });
      else if (state.row !== null) deletes.push(key);
    }
    return {
      upserts,
      deletes,
      bytes: this.utilised - this.tenant.utilised,
      objects: this.objects - this.tenant.objects,
      revisions: this.revision - this.tenant.revision,
    };
  }

  private failedPreconditions(command: WriteCommand): FailedPrecondition[] {
    const checks =
      command.kind === 'put'
        ? command.writes.map((w) => [w.key, w.precondition] as const)
        : command.keys.map((key) => [key, command.precondition] as const);
    return checks
      .map(([key, precondition]) => ({ key, precondition, current: liveVersion(this.objectOf(key), this.now) }))
      .filter(({ precondition, current }) => !holds(precondition, current))
      .map(({ key, current }) => ({ key, currentVersion: current }));
  }

  private set(key: string, object: KeyState['object'], written: boolean): void {
    const state = this.state(key);
    const old = state.object;
    this.utilised += (object?.size ?? 0) - (old?.size ?? 0);
    this.objects += (object ? 1 : 0) - (old ? 1 : 0);
    state.object = object;
    state.written = state.written || written;
  }

  private objectOf(key: string): LockedRow | undefined {
    const object = this.state(key).object;
    return object ? { key, size: object.size, version: object.version, expiresAt: object.expiresAt } : undefined;
  }

  private state(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = { row: null, object: null, written: false }));
    return state;
  }
}

/** Every key a list of commands names, once each. */
export function keysOf(commands: WriteCommand[]): string[] {
  const keys = new Set<string>();
  for (const c of commands) for (const key of c.kind === 'put' ? c.writes.map((w) => w.key) : c.keys) keys.add(key);
  return [...keys];
}
