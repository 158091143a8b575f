/** The service's notion of now. Tests pass their own to step over expiries without waiting. */
export interface Clock {
  nowMs(): number;
  nowSeconds(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowSeconds: () => Math.floor(Date.now() / 1000),
};

/** One instant in both units a write uses: unix seconds for expiry, milliseconds for when it was written. */
export interface Moment {
  seconds: number;
  ms: number;
}

export function momentOf(clock: Clock): Moment {
  const ms = clock.nowMs();
  return { seconds: Math.floor(ms / 1000), ms };
}

/** An instant as RFC 3339 in UTC, to the second (`2026-12-01T12:00:00Z`). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
