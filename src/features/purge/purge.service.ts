import type { Config } from '../../platform/config';
import type { Db } from '../../platform/db/database';
import type { Logger } from '../../platform/logger';
import { momentOf, type Clock } from '../../platform/clock';
import type { WritePipeline } from '../objects';
import type { PurgeRepository } from './purge.repository';

export type PurgeMode = 'event' | 'in-process';

/** At most this many chunks per in-process run, so one run never holds the lock for long. */
const MAX_CHUNKS_PER_RUN = 1000;

/**
 * Expired objects are invisible at once (reads check the expiry); this reclaims their rows and bytes. On
 * MySQL with the event scheduler on, the EVENT does it and the service only keeps its schedule in step with
 * PURGE_INTERVAL_SECONDS. Everywhere else (SQLite, scheduler off, no EVENT privilege) the service runs the
 * same purge on a timer, under a named lock so that several instances take turns.
 */
export class PurgeService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  mode: PurgeMode = 'in-process';

  constructor(
    private readonly config: Config,
    private readonly db: Db,
    private readonly pipeline: WritePipeline,
    private readonly purge: PurgeRepository,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  async start(): Promise<PurgeMode> {
    this.mode = await this.chooseMode();
    const every = this.config.purgeIntervalSeconds;
    if (this.mode === 'event') {
      this.logger.info({ purge: 'event', everySeconds: every }, 'expired objects are purged by the MySQL EVENT');
      return this.mode;
    }
    this.logger.info({ purge: 'in-process', everySeconds: every }, 'expired objects are purged by this service');
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

  /** One in-process purge run; returns how many objects it removed (0 if another instance holds the lock). */
  async runOnce(): Promise<number> {
    const removed = await this.db.dialect.withNamedLock(this.db.pool, 'tenantkv_purge', async () => {
      let total = 0;
      for (let chunk = 0; chunk < MAX_CHUNKS_PER_RUN; chunk++) {
        const n = await this.pipeline.purgeExpiredChunk(momentOf(this.clock), this.config.purgeChunkRows);
        total += n;
        if (n === 0) break;
      }
      return total;
    });
    if (removed) this.logger.info({ removed }, 'purged expired objects');
    return removed ?? 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async chooseMode(): Promise<PurgeMode> {
    if (!this.db.dialect.hasEvents) return 'in-process';
    try {
      const ready = await this.purge.ensureEvent(this.config.purgeIntervalSeconds, this.config.purgeChunkRows);
      const state = await this.purge.eventState();
      if (ready && state.eventEnabled && state.schedulerOn) return 'event';
      this.logger.warn(
        { eventScheduler: state.schedulerOn, eventEnabled: state.eventEnabled, mayCreateEvent: ready },
        state.schedulerOn
          ? 'the purge EVENT is missing and this database user may not create it (needs CREATE ROUTINE, ALTER ROUTINE, EVENT)'
          : 'the MySQL event scheduler is off (SET GLOBAL event_scheduler = ON to let the database purge)',
      );
      return 'in-process';
    } catch (err) {
      this.logger.warn({ err }, 'cannot inspect or set up the purge EVENT');
      return 'in-process';
    }
  }
}
