import type { Config } from '../../platform/config';
import type { Db } from '../../platform/db/database';
import type { UnitOfWork } from '../../platform/db/unit-of-work';
import type { Logger } from '../../platform/logger';
import type { Clock } from '../../platform/clock';
import type { ChangesRepository } from './changes.repository';

/** Change records trimmed per transaction, so that no statement locks many rows. */
const TRIM_CHUNK = 1000;
/** At most this many chunks per run, so one run never holds the lock for long. */
const MAX_CHUNKS_PER_RUN = 1000;

/**
 * The outbox's retention: change records older than CHANGE_RETENTION_SECONDS, and the oldest past
 * CHANGE_MAX_ROWS, are trimmed in bounded chunks on a timer, by one instance at a time. Each trimmed tenant's
 * floor rises, so that a reader who asks for changes that are gone hears 410, never a silent gap.
 */
export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly config: Config,
    private readonly db: Db,
    private readonly uow: UnitOfWork<{ changes: ChangesRepository }>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.logger.error({ err }, 'change retention run failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.config.purgeIntervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One run: returns how many change records it trimmed (0 if another instance holds the lock). */
  async runOnce(): Promise<number> {
    const trimmed = await this.db.dialect.withNamedLock(this.db.pool, 'tenantkv_change_retention', async () => {
      let total = 0;
      const before = this.clock.nowMs() - this.config.changeRetentionSeconds * 1000;
      for (let chunk = 0; chunk < MAX_CHUNKS_PER_RUN; chunk++) {
        const n = await this.uow.run(({ changes }) => changes.trimOlderThan(before, TRIM_CHUNK));
        total += n;
        if (n === 0) break;
      }
      for (let chunk = 0; chunk < MAX_CHUNKS_PER_RUN; chunk++) {
        const n = await this.uow.run(({ changes }) => changes.trimBeyond(this.config.changeMaxRows, TRIM_CHUNK));
        total += n;
        if (n === 0) break;
      }
      return total;
    });
    if (trimmed) this.logger.info({ trimmed }, 'trimmed change records past their retention');
    return trimmed ?? 0;
  }
}
