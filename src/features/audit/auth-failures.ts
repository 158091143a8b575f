import type { Logger } from '../../platform/logger';
import type { AdminAuthFailure } from '../auth';
import type { AuditService } from './audit.service';

/** How long failures of one source are coalesced into one row. */
const WINDOW_MS = 1000;
/** Sources (address, fingerprint, reason) a window records apart; failures from any more are counted together. */
const SOURCES_PER_WINDOW = 10;
const TARGET = 'admin_api';

interface Pending {
  failure: AdminAuthFailure;
  /** Failures since the source's first in this window, which was appended at once. */
  more: number;
}

/**
 * Authentication failures on the admin API, appended to the audit log with bounded writes, so that a flood (a key
 * guesser, a misconfigured client) cannot fill the disk: per window, a source's first failure is appended at
 * once and the rest as one row with their count when the window ends; past SOURCES_PER_WINDOW sources, failures
 * are counted per reason in one row without actor or address. A process thus writes at most
 * 2 × SOURCES_PER_WINDOW + 3 rows a window, whatever the flood. Per process: the workers and instances each bound
 * their own.
 */
export class AuthFailureLog {
  private window: Map<string, Pending> | undefined;
  private overflow = new Map<AdminAuthFailure['reason'], number>();
  private timer: NodeJS.Timeout | undefined;
  private flushed = Promise.resolve();

  constructor(
    private readonly audit: AuditService,
    private readonly logger: Logger,
  ) {}

  /** Resolves once the failure is recorded or counted; never rejects (a failure to record it is logged). */
  async record(failure: AdminAuthFailure): Promise<void> {
    if (this.window === undefined) {
      this.window = new Map();
      this.timer = setTimeout(() => void this.flush(), WINDOW_MS);
      this.timer.unref();
    }
    const source = JSON.stringify([failure.address, failure.actor, failure.reason]);
    const pending = this.window.get(source);
    if (pending) {
      pending.more++;
      return;
    }
    if (this.window.size >= SOURCES_PER_WINDOW) {
      this.overflow.set(failure.reason, (this.overflow.get(failure.reason) ?? 0) + 1);
      return;
    }
    this.window.set(source, { failure, more: 0 });
    await this.append(failure, 1);
  }

  /**
   * Appends what the window counted and starts a new one: when the window ends, and at shutdown, where it also
   * waits for a flush the timer started.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    const window = this.window;
    const overflow = this.overflow;
    this.window = undefined;
    this.overflow = new Map();
    this.flushed = this.flushed.then(async () => {
      for (const { failure, more } of window?.values() ?? []) if (more > 0) await this.append(failure, more);
      for (const [reason, count] of overflow) await this.append({ reason, actor: null, address: null }, count);
    });
    return this.flushed;
  }

  private async append(failure: AdminAuthFailure, count: number): Promise<void> {
    try {
      await this.audit.record({
        actor: { key: failure.actor, address: failure.address },
        action: 'auth.failure',
        target: TARGET,
        before: null,
        after: { reason: failure.reason, count },
      });
    } catch (err) {
      this.logger.error({ err, failure, count }, 'an authentication failure could not be appended to the audit log');
    }
  }
}
