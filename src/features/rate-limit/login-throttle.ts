import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../platform/config';
import type { AppError } from '../../platform/errors';
import type { LoginGuard } from '../auth';
import { isStoreFailure, rateLimited, secondsUntil, type LimiterStore } from './limiter-store';

const WINDOW_SECONDS = 15 * 60;
/** A client address may fail this many times more than one user name: many users share an address (NAT). */
const ADDRESS_FACTOR = 10;

function throttled(res: RateLimiterRes, what: string): AppError {
  const seconds = secondsUntil(res.msBeforeNext);
  return rateLimited(`${what}; retry after ${seconds} s`, seconds);
}

/**
 * Against password guessing and name probing: LOGIN_MAX_FAILURES failed logins per user name per 15 minutes, ten
 * times that per client address, and as many failed registrations (a name taken, a capacity refused) per client
 * address, whatever the tenants' rates.
 *
 * Each login attempt takes one from its name's and its address's allowances before the password is checked, and
 * a successful login gives them back: only failures count, yet guesses sent in parallel cannot all be checked
 * before the first is counted. An allowance spent is 429 RATE_LIMITED until its window ends, even with the right
 * password. A store that cannot answer lets the attempt through (fail open), as for tenant rates.
 */
export class LoginThrottle implements LoginGuard {
  private readonly byName: RateLimiterAbstract;
  private readonly byAddress: RateLimiterAbstract;
  private readonly registrations: RateLimiterAbstract;

  constructor(
    private readonly store: LimiterStore,
    config: Config,
  ) {
    const perAddress = ADDRESS_FACTOR * config.loginMaxFailures;
    this.byName = store.limiter('login-name', config.loginMaxFailures, WINDOW_SECONDS);
    this.byAddress = store.limiter('login-address', perAddress, WINDOW_SECONDS);
    this.registrations = store.limiter('register-address', perAddress, WINDOW_SECONDS);
  }

  /** Throws 429 RATE_LIMITED when the address or the name has failed too often lately. */
  async takeLoginAttempt(userName: string, address: string): Promise<void> {
    if (!(await this.take(this.byAddress, address, 'too many failed logins from this address'))) return;
    try {
      await this.take(this.byName, userName, 'too many failed logins for this user name');
    } catch (err) {
      // Not checked, so not a failure of this address's.
      this.give(this.byAddress, address);
      throw err;
    }
  }

  /** The password was right: the attempt was not a failure. */
  returnLoginAttempt(userName: string, address: string): void {
    this.give(this.byName, userName);
    this.give(this.byAddress, address);
  }

  /** Throws 429 RATE_LIMITED when the address's registrations have failed too often lately. */
  async takeRegistration(address: string): Promise<void> {
    await this.take(this.registrations, address, 'too many failed registrations from this address');
  }

  /** The tenant was created: the attempt was not a failure. */
  returnRegistration(address: string): void {
    this.give(this.registrations, address);
  }

  /** One point of `key`'s allowance; false when the store could not say (the attempt goes through). */
  private async take(limiter: RateLimiterAbstract, key: string, refusal: string): Promise<boolean> {
    try {
      await limiter.consume(key);
      return true;
    } catch (outcome) {
      if (isStoreFailure(outcome)) {
        this.store.failed(outcome);
        return false;
      }
      throw throttled(outcome as RateLimiterRes, refusal);
    }
  }

  private give(limiter: RateLimiterAbstract, key: string): void {
    limiter.reward(key).catch((err: unknown) => this.store.failed(err));
  }
}
