import cluster from 'node:cluster';
import Redis from 'ioredis';
import {
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Config } from '../../platform/config';
import { AppError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import { metrics } from '../../platform/metrics';

/**
 * How long a decision waits for the store (the primary's IPC or Redis) before it lets the request through: a
 * store that answers later than this is as good as down.
 */
const STORE_TIMEOUT_MS = 500;
/** While the store is down, one log line at most this often, with the count of the failures it stands for. */
const LOG_EVERY_MS = 10_000;

/** Several workers and no Redis: the primary keeps the counts that the workers share. */
function sharedThroughPrimary(config: Config): boolean {
  return config.rateLimitRedisUrl === undefined && config.webConcurrency > 1;
}

/** A consume or get the store could not answer (down, timed out), as opposed to one it refused. */
export function isStoreFailure(outcome: unknown): boolean {
  return !(outcome instanceof RateLimiterRes);
}

/** Whole seconds until `ms` has passed, as Retry-After and the `t` of RateLimit want them: at least 1. */
export function secondsUntil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The 429 of every limit here (tenant rates, login and registration throttling), counted where it is made. */
export function rateLimited(message: string, retryAfterSeconds: number): AppError {
  metrics.rateLimited.inc();
  const error = new AppError('RATE_LIMITED', message);
  error.retryAfterSeconds = retryAfterSeconds;
  return error;
}

/**
 * Where rate-limiter-flexible keeps its counters, chosen once per process:
 * - RATE_LIMIT_REDIS_URL set: Redis, shared by every worker of every instance;
 * - a worker of several (node:cluster): the primary's memory, over IPC (RateLimiterCluster, served by
 *   RateLimiterClusterMaster in the primary: `serveLimitsToWorkers`), so that the workers share one count;
 * - otherwise (one worker, or tests in one process): this process's memory.
 *
 * A store that cannot answer never refuses a request: the caller lets it through (fail open) and reports it to
 * `failed`, which counts it and logs at most one line every LOG_EVERY_MS.
 */
export class LimiterStore {
  readonly kind: 'redis' | 'cluster' | 'memory';
  private readonly redis: Redis | undefined;
  private lastLogMs = Number.NEGATIVE_INFINITY;
  private unlogged = 0;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    if (config.rateLimitRedisUrl !== undefined) {
      this.kind = 'redis';
      this.redis = new Redis(config.rateLimitRedisUrl, {
        // Without a connection a command fails at once instead of queueing behind the reconnection.
        enableOfflineQueue: false,
        connectTimeout: STORE_TIMEOUT_MS * 2,
        commandTimeout: STORE_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
      });
      // Reconnection is ioredis's; what is left to do with its errors is to say so, not for each attempt.
      this.redis.on('error', (err: Error) => this.log(err, false));
      this.redis.on('ready', () => logger.info({ store: this.kind }, 'rate-limit store connected'));
    } else {
      this.kind = cluster.isWorker && sharedThroughPrimary(config) ? 'cluster' : 'memory';
    }
  }

  /**
   * Resolves once Redis is connected, or after its connect timeout (then the first decisions fail open until it
   * is): at start, so that the first requests are counted. Without Redis, at once.
   */
  ready(): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, STORE_TIMEOUT_MS * 2);
      redis.once('ready', done);
    });
  }

  /** A fixed-window counter of `points` per `durationSeconds`, under a prefix of its own. */
  limiter(name: string, points: number, durationSeconds: number): RateLimiterAbstract {
    const options = { keyPrefix: name, points, duration: durationSeconds };
    if (this.redis) {
      return new RateLimiterRedis({
        ...options,
        keyPrefix: `${this.config.rateLimitRedisPrefix}:${name}`,
        storeClient: this.redis,
        rejectIfRedisNotReady: true,
      });
    }
    if (this.kind === 'cluster') return new RateLimiterCluster({ ...options, timeoutMs: STORE_TIMEOUT_MS });
    return new RateLimiterMemory(options);
  }

  /** A decision the store could not make: the request went through. */
  failed(err: unknown): void {
    metrics.rateLimitStoreFailures.inc();
    this.log(err, true);
  }

  private log(err: unknown, decision: boolean): void {
    this.unlogged += decision ? 1 : 0;
    const now = Date.now();
    if (now - this.lastLogMs < LOG_EVERY_MS) return;
    this.lastLogMs = now;
    this.logger.warn(
      { store: this.kind, err: err instanceof Error ? err.message : String(err), failOpen: this.unlogged },
      `rate-limit store (${this.kind}) unreachable: requests go through unlimited until it answers`,
    );
    this.unlogged = 0;
  }

  close(): void {
    this.redis?.disconnect();
  }
}

/**
 * In the primary: keeps the counters every worker's RateLimiterCluster consumes from, when they share them
 * through it. Must run before the workers are forked, or their first decisions wait for it until they time out.
 */
export function serveLimitsToWorkers(config: Config): void {
  if (sharedThroughPrimary(config)) new RateLimiterClusterMaster();
}
