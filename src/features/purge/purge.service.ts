import crypto from 'node:crypto';
import os from 'node:os';
import type { Config } from '../../platform/config';
import type { Db } from '../../platform/db/database';
import type { Logger } from '../../platform/logger';
import { momentOf, type Clock } from '../../platform/clock';
import { metrics } from '../../platform/metrics';
import type { WritePipeline } from '../objects';
import type { PurgeRepository } from './purge.repository';

/**
 * - event: the MySQL EVENT purges (a single server with the scheduler on);
 * - in-process: this service purges on a timer, under a named lock (SQLite; MySQL without the scheduler or the
 *   privilege);
 * - lease: this service purges on a timer while it holds the lease row (a Galera cluster, where named locks and
 *   events are node-local).
 */
export type PurgeMode = 'event' | 'in-process' | 'lease';

/** At most this many chunks per in-process run, so one run never holds the lock for long. */
const MAX_CHUNKS_PER_RUN = 1000;

/** The lease row of the purge (migration 20261201000008). */
export const PURGE_LEASE = 'purge';

/**
 * How long a lease lasts without renewal: three purge intervals (at least 10 s). The holder renews it at every run
 * and between chunks, so only a holder that died or stalled for that long loses it.
 */
export function leaseMs(intervalSeconds: number): number {
  return Math.max(10_000, 3 * intervalSeconds * 1000);
}

/**
 * Expired objects are invisible at once (reads check the expiry); this reclaims their rows and bytes. On
 * MySQL with the event scheduler on, the EVENT does it and the service only keeps its schedule in step with
 * PURGE_INTERVAL_SECONDS. On a Galera cluster the instances take turns by a lease the cluster arbitrates, and
 * the EVENT is dropped. Everywhere else (SQLite, scheduler off, no EVENT privilege) the service runs the
 * same purge on a timer, under a named lock so that several instances take turns.
 */
export class PurgeService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private holding = false;
  /** This process, as the lease knows it. */
  readonly holder = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  mode: PurgeMode = 'in-process';

  constructor(
    private readonly config: Config,
    private readonly db: Db,
    private readonly pipeline: WritePipeline,
    private readonly purge: PurgeRepository,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /** Chooses the mode (or takes `mode`, for tests) and starts the timer where the service purges. */
  async start(mode?: PurgeMode): Promise<PurgeMode> {
    this.mode = mode ?? (await this.chooseMode());
    const every = this.config.purgeIntervalSeconds;
    if (this.mode === 'event') {
      this.logger.info({ purge: 'event', everySeconds: every }, 'expired objects are purged by the MySQL EVENT');
      return this.mode;
    }
    if (this.mode === 'lease') {
      this.logger.info(
        { purge: 'lease', everySeconds: every, leaseSeconds: leaseMs(every) / 1000, holder: this.holder },
        'expired objects are purged by one instance at a time, the holder of the purge lease (a Galera cluster: ' +
          'no EVENT, no named lock)',
      );
    } else {
      this.logger.info({ purge: 'in-process', everySeconds: every }, 'expired objects are purged by this service');
    }
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.logger.error({ err }, 'purge run failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, every * 1000);
    this.timer.unref();
    return this.mode;
  }

  /**
   * One purge run; returns how many objects it removed (0 if another instance holds the lock or the lease). In
   * lease mode it renews the lease before each chunk and stops as soon as it no longer holds it.
   */
  async runOnce(): Promise<number> {
    const removed =
      this.mode === 'lease'
        ? await this.underLease()
        : await this.db.dialect.withNamedLock(this.db.pool, 'tenantkv_purge', () => this.purgeChunks(async () => true));
    if (removed === undefined) return 0;
    // What the MySQL EVENT purges (mode 'event') is the database's doing: no service counts it.
    metrics.purgeRuns.inc();
    if (removed) this.logger.info({ removed, purge: this.mode }, 'purged expired objects');
    return removed;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.holding) {
      this.holding = false;
      await this.purge.releaseLease(PURGE_LEASE, this.holder).catch((err: unknown) => {
        this.logger.warn({ err }, 'could not release the purge lease; it lapses by itself');
      });
    }
  }

  private async purgeChunks(mayGoOn: () => Promise<boolean>): Promise<number> {
    let total = 0;
    for (let chunk = 0; chunk < MAX_CHUNKS_PER_RUN; chunk++) {
      if (chunk > 0 && !(await mayGoOn())) break;
      const purged = await this.pipeline.purgeExpiredChunk(momentOf(this.clock), this.config.purgeChunkRows);
      metrics.purgeRows.inc(purged.removed);
      metrics.purgeBytes.inc(purged.bytes);
      total += purged.removed;
      if (purged.removed === 0) break;
    }
    return total;
  }

  private async underLease(): Promise<number | undefined> {
    if (!(await this.claim())) return undefined;
    return this.purgeChunks(() => this.claim());
  }

  /** Takes or renews the lease; says so in the log when this process starts or stops holding it. */
  private async claim(): Promise<boolean> {
    const now = this.clock.nowMs();
    const held = await this.purge.claimLease(
      PURGE_LEASE,
      this.holder,
      now,
      now + leaseMs(this.config.purgeIntervalSeconds),
    );
    if (held !== this.holding) {
      this.logger.info(
        { purge: 'lease', holder: this.holder },
        held ? 'this instance holds the purge lease' : 'this instance lost the purge lease to another',
      );
      this.holding = held;
    }
    return held;
  }

  private async chooseMode(): Promise<PurgeMode> {
    if (!this.db.dialect.hasEvents) return 'in-process';
    try {
      if ((await this.db.server()).galera) {
        // The EVENT would run on the one node that last created or altered it, and on none once that node is
        // gone: it is dropped (the drop replicates to every node).
        if (!(await this.purge.dropEvent())) {
          this.logger.warn(
            'cannot drop the purge EVENT (this database user lacks the EVENT privilege): the node that created it ' +
              'purges too, beside the lease holder',
          );
        }
        return 'lease';
      }
      const ready = await this.purge.ensureEvent(this.config.purgeIntervalSeconds, this.config.purgeChunkRows);
      const state = await this.purge.eventState();
      if (ready && state.eventEnabled && state.schedulerOn) return 'event';
      this.logger.warn(
        {
          eventScheduler: state.schedulerOn,
          eventEnabled: state.eventEnabled,
          eventStatus: state.eventStatus,
          mayCreateEvent: ready,
        },
        whyNotEvent(state.schedulerOn, ready, state.eventStatus),
      );
      return 'in-process';
    } catch (err) {
      this.logger.warn({ err }, 'cannot inspect or set up the purge EVENT');
      return 'in-process';
    }
  }
}

/** What keeps the EVENT from purging, said so that an operator knows what to change. */
export function whyNotEvent(schedulerOn: boolean, mayCreate: boolean, status: string | undefined): string {
  if (!schedulerOn)
    return 'the MySQL event scheduler is off (SET GLOBAL event_scheduler = ON to let the database purge)';
  if (status === 'SLAVESIDE_DISABLED') {
    return (
      'the purge EVENT is SLAVESIDE_DISABLED here: this server replicates from another, where the EVENT runs ' +
      '(this service purges too, under a named lock)'
    );
  }
  if (status === 'DISABLED' && mayCreate) {
    return 'the purge EVENT is disabled (ALTER EVENT tenantkv_purge ENABLE to let the database purge)';
  }
  return 'the purge EVENT is missing and this database user may not create it (needs CREATE ROUTINE, ALTER ROUTINE, EVENT)';
}
