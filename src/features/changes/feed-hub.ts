import crypto from 'node:crypto';
import os from 'node:os';
import type { Response } from 'express';
import type { Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import type { Clock } from '../../platform/clock';
import type { Principal } from '../../platform/principal';
import type { WorkerBus } from '../../platform/worker-bus';
import type { KeyRange } from '../../platform/db/prefix-range';
import { AppError } from '../../platform/errors';
import type { Change, ChangesRepository } from './changes.repository';
import type { WatchersRepository } from './watchers.repository';
import { inRange, sseRevision } from './change-format';

/** What decides, on every poll, whether a stream's tenant and token may still read. */
export interface AccessCheck {
  verdictFromCache(principal: Principal): AppError | null | undefined;
  authorize(principal: Principal): Promise<void>;
}

/** Changes read at a time for one tenant's streams in one poll. */
const POLL_ROWS = 1000;
/** A stream's lease on its slot (feed_watchers), renewed at a third of it. */
const LEASE_MS = 30_000;
const HEARTBEAT_MS = 15_000;
/** A stream whose unsent answer passes this is told to resume later (event: overflow) and closed. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Worker bus channels: which tenants a worker has streams of, a worker asking for that, tenants that moved. */
const WATCHING = 'feed.watching';
const HELLO = 'feed.hello';
const MOVED = 'feed.moved';
/** At most one MOVED message per worker this often: each is relayed by the primary to every sibling. */
const MOVED_GAP_MS = 5;
const NOTHING_CHANGED: ReadonlyMap<string, number> = new Map();

/**
 * What keeps up with some tenants' changes through the hub's poll instead of a poll of its own: the read cache of
 * objects (features/objects read-cache.ts).
 */
export interface FeedFollower {
  /** The tenants it follows, each with the revision it has applied every change up to. */
  following(): Map<number, number>;
  /**
   * The tenant's changes after `from` up to `revision` touched `changed`, each key with the last revision that
   * changed it (undefined: more than can be said), and every change of it committed before `at`
   * (performance.now()) is now known.
   */
  caughtUp(
    tenantId: number,
    from: number,
    revision: number,
    changed: ReadonlyMap<string, number> | undefined,
    at: number,
  ): void;
  /** The tenant was deleted. */
  gone(tenantId: number): void;
}

interface Watcher {
  id: string;
  tenantId: number;
  principal: Principal;
  range: KeyRange;
  values: boolean;
  /** The revision after which it is owed changes. */
  cursor: number;
  res: Response;
}

/**
 * The change feed of one process: every open stream (Server-Sent Events) of its tenants, fed by one poll loop
 * over the outbox (features/objects writes it in each write's own transaction), however many streams there are:
 * one query for the revisions of the watched tenants, then one for the new changes of each tenant that moved,
 * read once for all of its streams. Changes made through any instance or worker reach every stream; a write
 * through this process wakes the loop at once (`nudge`), and so does a write through a sibling worker of the
 * instance: each worker tells its siblings which tenants it has streams of (over the worker bus, when that set
 * changes), and a worker that commits for one of those tells them it moved (such messages at least MOVED_GAP_MS apart).
 * Writes through other instances arrive at the next poll (CHANGE_POLL_MS).
 */
export class FeedHub {
  private readonly watchers = new Map<number, Set<Watcher>>();
  private readonly process = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private stopped = false;
  private lastHeartbeat = 0;
  private lastRenew = 0;
  /** The tenants each sibling worker has streams of, as it last said; cleared when a worker starts. */
  private readonly watchedBySibling = new Map<string, Set<number>>();
  private readonly moved = new Set<number>();
  private lastMoved = -Infinity;
  private follower: FeedFollower | undefined;
  /** A poll is set to run (its timer is pending). */
  private due = false;

  constructor(
    private readonly config: Config,
    private readonly changes: ChangesRepository,
    private readonly slots: WatchersRepository,
    private readonly access: AccessCheck,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly bus: WorkerBus,
  ) {
    bus.subscribe(WATCHING, (payload) => {
      const { from, tenants } = payload as { from: string; tenants: number[] };
      if (tenants.length > 0) this.watchedBySibling.set(from, new Set(tenants));
      else this.watchedBySibling.delete(from);
    });
    // A worker that starts knows nobody's streams, and one that died leaves its list: everyone says theirs again.
    bus.subscribe(HELLO, () => {
      this.watchedBySibling.clear();
      if (this.watchers.size > 0) this.announce();
    });
    bus.subscribe(MOVED, (payload) => {
      if ((payload as number[]).some((tenantId) => this.watchers.has(tenantId))) this.schedule(0);
    });
    void bus.publish(HELLO, null);
  }

  /** Takes a slot for a stream of this tenant; false when it has MAX_WATCHERS_PER_TENANT open already. */
  async admit(id: string, tenantId: number): Promise<boolean> {
    return this.slots.acquire(
      id,
      tenantId,
      this.process,
      this.clock.nowMs(),
      LEASE_MS,
      this.config.maxWatchersPerTenant,
    );
  }

  /** Gives back the slot of a stream (admitted, and ended or never started). */
  release(id: string): void {
    this.slots.release(id).catch((err: unknown) => this.logger.warn({ err }, 'could not release a stream slot'));
  }

  /** Starts a stream that has been admitted: it is owed every change after `since`. */
  attach(watcher: Omit<Watcher, 'cursor'>, since: number): void {
    const entry: Watcher = { ...watcher, cursor: since };
    let set = this.watchers.get(watcher.tenantId);
    if (!set) {
      this.watchers.set(watcher.tenantId, (set = new Set()));
      this.announce();
    }
    set.add(entry);
    watcher.res.on('close', () => {
      set.delete(entry);
      if (set.size === 0) {
        this.watchers.delete(watcher.tenantId);
        this.announce();
      }
      this.release(watcher.id);
    });
    this.schedule(0);
  }

  /** Lets `follower` keep up through this hub's poll, which runs while the follower follows anything. */
  follow(follower: FeedFollower): void {
    this.follower = follower;
  }

  /** The follower follows a new tenant: the poll must run, if it is not running already. */
  resume(): void {
    if (!this.due && !this.polling) this.schedule(this.config.changePollMs);
  }

  /** A write through this process committed: poll now rather than at the next tick, here and in the siblings. */
  nudge(tenantId: number): void {
    if (this.watchers.has(tenantId)) this.schedule(0);
    if (this.moved.has(tenantId) || !this.watchedElsewhere(tenantId)) return;
    if (this.moved.size === 0) {
      setTimeout(this.tellMoved, Math.max(0, this.lastMoved + MOVED_GAP_MS - performance.now())).unref();
    }
    this.moved.add(tenantId);
  }

  private watchedElsewhere(tenantId: number): boolean {
    for (const tenants of this.watchedBySibling.values()) if (tenants.has(tenantId)) return true;
    return false;
  }

  private readonly tellMoved = (): void => {
    this.lastMoved = performance.now();
    const tenants = [...this.moved];
    this.moved.clear();
    void this.bus.publish(MOVED, tenants);
  };

  private announce(): void {
    void this.bus.publish(WATCHING, { from: this.process, tenants: [...this.watchers.keys()] });
  }

  /** Ends every stream (at shutdown); their clients resume from their last event id elsewhere. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const set of this.watchers.values()) for (const w of set) w.res.end();
  }

  /** Resolves once the poll under way, if any, is over. */
  async idle(): Promise<void> {
    await this.polling;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.due = true;
    this.timer = setTimeout(() => {
      this.due = false;
      this.polling = this.poll()
        .catch((err: unknown) => this.logger.error({ err }, 'change feed poll failed'))
        .finally(() => {
          this.polling = undefined;
          const again = this.pollAgain;
          this.pollAgain = false;
          if (this.watchers.size > 0 || (this.follower?.following().size ?? 0) > 0) {
            this.schedule(again ? 0 : this.config.changePollMs);
          }
        });
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const nowMs = this.clock.nowMs();
    if (nowMs - this.lastRenew >= LEASE_MS / 3) {
      this.lastRenew = nowMs;
      await this.slots.renew(this.process, nowMs, LEASE_MS);
    }
    const tenants = [...this.watchers.keys()];
    const followed = this.follower?.following() ?? new Map<number, number>();
    // Sent after this instant, the revisions hold every write acknowledged before it.
    const startedAt = performance.now();
    const revisions = await this.changes.revisions([...new Set([...tenants, ...followed.keys()])]);
    const floors = await this.changes.floors(tenants);
    for (const tenantId of tenants) {
      const set = this.watchers.get(tenantId);
      if (!set) continue;
      for (const w of set) await this.checkAccess(w);
      const revision = revisions.get(tenantId);
      if (revision === undefined) {
        for (const w of set) w.res.end();
        continue;
      }
      const floor = floors.get(tenantId) ?? 0;
      for (const w of set) if (w.cursor < floor) this.overflow(w, 'its changes were dropped by retention');
      const behind = [...set].filter((w) => w.cursor < revision && !w.res.writableEnded);
      if (behind.length > 0) await this.feed(tenantId, behind);
    }
    if (this.follower) await this.keepUp(this.follower, followed, revisions, startedAt);
    if (nowMs - this.lastHeartbeat >= HEARTBEAT_MS) {
      this.lastHeartbeat = nowMs;
      for (const set of this.watchers.values()) for (const w of set) this.send(w, ': heartbeat\n\n');
    }
  }

  /** Tells the follower which keys of its tenants changed since the revision it has, and that it is caught up. */
  private async keepUp(
    follower: FeedFollower,
    followed: Map<number, number>,
    revisions: Map<number, number>,
    startedAt: number,
  ): Promise<void> {
    const moved = new Map([...followed].filter(([tenantId, from]) => (revisions.get(tenantId) ?? from) > from));
    const floors = await this.changes.floors([...moved.keys()]);
    // Retention dropped some of the changes it has not seen: nothing to read, it forgets the tenant's.
    for (const [tenantId, from] of moved) if ((floors.get(tenantId) ?? 0) > from) moved.delete(tenantId);
    // One statement for every tenant that moved; that many changes in one poll is reason enough to forget them all.
    const rows = moved.size > 0 ? await this.changes.keysAfter(moved, POLL_ROWS) : [];
    const changed = new Map<number, { keys: Map<string, number>; last: number }>();
    for (const row of rows ?? []) {
      const entry = changed.get(row.tenantId) ?? { keys: new Map<string, number>(), last: 0 };
      entry.keys.set(row.key, Math.max(entry.keys.get(row.key) ?? 0, row.revision));
      entry.last = Math.max(entry.last, row.revision);
      changed.set(row.tenantId, entry);
    }
    for (const [tenantId, from] of followed) {
      const revision = revisions.get(tenantId);
      if (revision === undefined) {
        follower.gone(tenantId);
      } else if (revision <= from) {
        follower.caughtUp(tenantId, from, from, NOTHING_CHANGED, startedAt);
      } else if (!moved.has(tenantId) || rows === undefined) {
        follower.caughtUp(tenantId, from, revision, undefined, startedAt);
      } else {
        const mine = changed.get(tenantId);
        follower.caughtUp(
          tenantId,
          from,
          Math.max(revision, mine?.last ?? 0),
          mine?.keys ?? NOTHING_CHANGED,
          startedAt,
        );
      }
    }
  }

  /** Reads the tenant's changes after its furthest-behind stream, once, and gives each stream what it is owed. */
  private async feed(tenantId: number, behind: Watcher[]): Promise<void> {
    const from = Math.min(...behind.map((w) => w.cursor));
    const values = behind.some((w) => w.values);
    let rows = await this.changes.after(tenantId, from, POLL_ROWS, { values });
    if (rows.length === POLL_ROWS) {
      // A revision is given whole or not at all: the last one read may go on past the page.
      const last = rows[rows.length - 1].revision;
      rows =
        rows[0].revision === last
          ? await this.changes.ofRevision(tenantId, last, values)
          : rows.filter((r) => r.revision !== last);
      this.schedule(0);
    }
    for (const group of byRevision(rows)) {
      for (const w of behind) {
        if (group[0].revision <= w.cursor || w.res.writableEnded) continue;
        const mine = group.filter((c) => inRange(c.key, w.range));
        if (mine.length > 0) this.send(w, sseRevision(mine, w.values));
        w.cursor = group[0].revision;
      }
    }
  }

  /**
   * An operator's change makes this process forget the tenant (features/auth); a stream must not outlive a
   * suspension just because its tenant sends no other request, so what is not cached is read again here.
   */
  private async checkAccess(w: Watcher): Promise<void> {
    let refusal = this.access.verdictFromCache(w.principal);
    if (refusal === undefined) {
      refusal = await this.access.authorize(w.principal).then(
        () => null,
        (err: unknown) => {
          if (err instanceof AppError) return err;
          // The database is away: the stream stays, and the next poll asks again.
          this.logger.warn({ err }, 'could not check a change stream’s access');
          return null;
        },
      );
    }
    if (refusal) {
      this.send(w, `event: error\ndata: ${JSON.stringify(refusal.toJSON())}\n\n`);
      w.res.end();
    }
  }

  private send(w: Watcher, text: string): void {
    if (w.res.writableEnded) return;
    if (w.res.writableLength > MAX_BUFFERED_BYTES) {
      this.overflow(w, 'it is not reading fast enough');
      return;
    }
    w.res.write(text);
  }

  /** Tells the stream to resume from its last event id, and ends it. */
  private overflow(w: Watcher, why: string): void {
    if (w.res.writableEnded) return;
    w.res.end(`event: overflow\ndata: ${JSON.stringify({ revision: w.cursor, reason: why })}\n\n`);
  }
}

function byRevision(rows: Change[]): Change[][] {
  const groups: Change[][] = [];
  for (const row of rows) {
    const last = groups[groups.length - 1];
    if (last && last[0].revision === row.revision) last.push(row);
    else groups.push([row]);
  }
  return groups;
}
