import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../platform/config';
import type { Principal } from '../../platform/principal';
import type { TenantAccess } from '../auth';
import { isStoreFailure, rateLimited, secondsUntil, type LimiterStore } from './limiter-store';

/**
 * The header fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026), in its Structured Fields syntax:
 * RateLimit-Policy lists the quota policies (`"name";q=<quota>;w=<window seconds>`, §3), RateLimit the quota
 * left under each (`"name";r=<remaining>;t=<seconds that remainder must last>`, §4).
 */
const POLICY = 'RateLimit-Policy';
const LIMIT = 'RateLimit';

function serviceLimit(policy: string, res: RateLimiterRes): string {
  return `"${policy}";r=${res.remainingPoints};t=${Math.max(0, Math.ceil(res.msBeforeNext / 1000))}`;
}

/**
 * One (rate, burst) pair, shared by every tenant that has it; a tenant's counts live under its id. A tenant whose
 * limits change moves to the buckets of its new pair, and so takes the new rate with its next request.
 *
 * rate-limiter-flexible counts in fixed windows (each opens at the first request of its key), so the token
 * bucket is approximated as its BurstyRateLimiter does it, with two limiters:
 * - "default": `rps` requests in each one-second window;
 * - "burst": once a second's `rps` are spent, a reserve of `burst − rps` more, refilled whole every
 *   ⌈burst / rps⌉ seconds (the time a token bucket of `burst` takes to fill at `rps`).
 * From rest a tenant gets `burst` requests at once, then `rps` a second; the reserve makes a sustained rate of
 * at most rps + (burst − rps) / ⌈burst / rps⌉ (under 2 × rps). The two are composed here rather than with
 * BurstyRateLimiter, which hides the reserve's remaining points that RateLimit reports.
 */
class Bucket {
  readonly policy: string;
  readonly description: string;
  private readonly steady: RateLimiterAbstract;
  private readonly reserve: RateLimiterAbstract | undefined;

  constructor(
    private readonly store: LimiterStore,
    rps: number,
    size: number,
  ) {
    this.steady = store.limiter(`rate:${rps}:${size}`, rps, 1);
    this.policy = `"default";q=${rps};w=1`;
    this.description = `${rps} requests per second`;
    if (size > rps) {
      const window = Math.ceil(size / rps);
      this.reserve = store.limiter(`rate:${rps}:${size}:burst`, size - rps, window);
      this.policy += `, "burst";q=${size - rps};w=${window}`;
      this.description += ` with bursts of up to ${size}`;
    }
  }

  admit(tenantId: number, res: Response, next: NextFunction): void {
    res.setHeader(POLICY, this.policy);
    this.steady.consume(tenantId).then(
      (steady) => {
        res.setHeader(LIMIT, serviceLimit('default', steady));
        next();
      },
      (refused: unknown) => {
        if (isStoreFailure(refused)) return this.failOpen(refused, next);
        const steady = refused as RateLimiterRes;
        if (!this.reserve) return this.refuse(steady, res, next);
        this.reserve.consume(tenantId).then(
          (reserve) => {
            res.setHeader(LIMIT, `${serviceLimit('default', steady)}, ${serviceLimit('burst', reserve)}`);
            next();
          },
          (spent: unknown) => (isStoreFailure(spent) ? this.failOpen(spent, next) : this.refuse(steady, res, next)),
        );
      },
    );
  }

  /**
   * The next request goes through when the one-second window ends (RFC 9110 §10.2.3 Retry-After). Only that
   * policy is reported: the draft (§6) wants no effective window ending after Retry-After's point in time.
   */
  private refuse(steady: RateLimiterRes, res: Response, next: NextFunction): void {
    const seconds = secondsUntil(steady.msBeforeNext);
    res.setHeader(LIMIT, `"default";r=0;t=${seconds}`);
    next(rateLimited(`rate limit exceeded: this tenant may make ${this.description}`, seconds));
  }

  private failOpen(err: unknown, next: NextFunction): void {
    this.store.failed(err);
    next();
  }
}

/**
 * Per-tenant request rates: the tenant's own (set by an operator) or RATE_LIMIT_RPS / RATE_LIMIT_BURST, read from
 * the access state that authentication has just loaded, so that a change reaches every worker as a suspension
 * does. `handler` runs right after tenant authentication. With no limit in force it returns synchronously,
 * allocating nothing.
 */
export class TenantRateLimits {
  private readonly buckets = new Map<number, Map<number, Bucket>>();

  constructor(
    private readonly config: Config,
    private readonly access: TenantAccess,
    private readonly store: LimiterStore,
  ) {
    // Made before the first request: a cluster limiter's first decision waits for the primary to set it up.
    if (config.rateLimitRps > 0) this.bucket(config.rateLimitRps, config.rateLimitBurst);
  }

  readonly handler: RequestHandler = (req: Request, res: Response, next: NextFunction): void => {
    const tenantId = (req.user as Principal).tenantId;
    const state = this.access.cachedState(tenantId);
    const rps = state?.rateLimitRps ?? this.config.rateLimitRps;
    if (rps === 0) return next();
    this.bucket(rps, state?.rateLimitBurst ?? this.config.rateLimitBurst).admit(tenantId, res, next);
  };

  /** The bucket of a pair; a burst below the rate is the rate (a second's requests may always come at once). */
  private bucket(rps: number, burst: number): Bucket {
    const size = Math.max(rps, burst);
    let sizes = this.buckets.get(rps);
    if (!sizes) this.buckets.set(rps, (sizes = new Map()));
    let bucket = sizes.get(size);
    if (!bucket) sizes.set(size, (bucket = new Bucket(this.store, rps, size)));
    return bucket;
  }
}
