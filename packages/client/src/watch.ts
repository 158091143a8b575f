import { errorFromResponse, NetworkError, RateLimitedError, TenantKvError, UnavailableError } from './errors.js';
import { backoffMs, sleep, type Transport } from './http.js';
import { lines, sseMessages } from './streams.js';
import type { WatchEvent, WatchOptions } from './types.js';

const CHANGE_EVENTS = new Set(['put', 'delete', 'expire']);

/**
 * A change stream that outlives its connections: `for await (const event of watch)`. After a dropped connection
 * (a network failure, a restart of the service, a stream that went quiet past the heartbeat, one closed for
 * reading too slowly) it reconnects with backoff and resumes with `Last-Event-ID`.
 *
 * The service marks only the last event of a revision with its id, so the events of a revision are held until
 * that id comes and then given together: a connection cut half-way through a revision gives none of it, and the
 * resumed stream gives it whole. Nothing is given twice or lost.
 *
 * It ends with an error that retrying cannot cure (RevisionCompactedError, UnauthorizedError, ForbiddenError…),
 * and ends quietly when `close()` (or `return()`, which a `break` calls) or the signal stops it.
 */
export class Watch implements AsyncIterableIterator<WatchEvent> {
  private readonly stop = new AbortController();
  private readonly events: AsyncGenerator<WatchEvent>;
  private lastRevision: number | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly prefix: string,
    private readonly options: WatchOptions,
    private readonly currentRevision: (signal: AbortSignal) => Promise<number>,
  ) {
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.stop.abort(signal.reason);
      else signal.addEventListener('abort', () => this.stop.abort(signal.reason), { once: true });
    }
    this.lastRevision = options.since;
    this.events = this.run();
  }

  /** The last revision whose changes were all given: where a new watch would resume. */
  get revision(): number | undefined {
    return this.lastRevision;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    return this.events.next();
  }

  async return(): Promise<IteratorResult<WatchEvent>> {
    this.stop.abort();
    return this.events.return(undefined);
  }

  close(): Promise<IteratorResult<WatchEvent>> {
    return this.return();
  }

  private async *run(): AsyncGenerator<WatchEvent> {
    const stop = this.stop.signal;
    const { initialDelayMs = 250, maxDelayMs = 10_000, maxAttempts = Infinity } = this.options.reconnect ?? {};
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 45_000;
    let failures = 0;
    let connected = false;
    try {
      this.lastRevision ??= await this.currentRevision(stop);
      for (;;) {
        let waitMs: number | undefined;
        const connection = new AbortController();
        const onStop = (): void => connection.abort();
        stop.addEventListener('abort', onStop, { once: true });
        let idle: ReturnType<typeof setTimeout> | undefined;
        const keepAlive = (): void => {
          clearTimeout(idle);
          idle = setTimeout(() => connection.abort(new Error('the stream went quiet')), idleTimeoutMs);
        };
        try {
          const res = await this.transport.open({
            method: 'GET',
            path: '/api/watch',
            query: { prefix: this.prefix || undefined, values: this.options.values || undefined },
            headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(this.lastRevision) },
            idempotent: true,
            signal: connection.signal,
          });
          failures = 0;
          connected = true;
          keepAlive();
          let pending: WatchEvent[] = [];
          for await (const message of sseMessages(lines(res.body as ReadableStream<Uint8Array>, keepAlive))) {
            if (message.event === 'error') {
              const body = JSON.parse(message.data) as { status_code?: number };
              throw errorFromResponse(body.status_code ?? 500, new Headers(), message.data);
            }
            // Told to resume later (too slow a reader): at once, from the last revision given whole.
            if (message.event === 'overflow') break;
            if (!CHANGE_EVENTS.has(message.event)) continue;
            pending.push({ ...(JSON.parse(message.data) as WatchEvent), type: message.event as WatchEvent['type'] });
            if (message.id === undefined) continue;
            const complete = pending;
            pending = [];
            for (let i = 0; i < complete.length; i++) {
              if (i === complete.length - 1) this.lastRevision = Number(message.id);
              yield complete[i];
            }
          }
          // The stream ended (the service shut down, or an overflow): reconnect after the first delay.
          waitMs = backoffMs(1, initialDelayMs, maxDelayMs);
        } catch (err) {
          if (stop.aborted) return;
          const retryable =
            err instanceof NetworkError ||
            err instanceof UnavailableError ||
            // Once connected, too many watchers is most likely this stream's own lease, not yet expired.
            (err instanceof RateLimitedError && (err.code !== 'TOO_MANY_WATCHERS' || connected)) ||
            // What reading a cut body throws (fetch's TypeError, the idle timer's abort), but not a bad event.
            !(err instanceof TenantKvError || err instanceof SyntaxError);
          if (!retryable || ++failures > maxAttempts) throw err;
          const after = err instanceof RateLimitedError || err instanceof UnavailableError ? err.retryAfter : undefined;
          waitMs = after !== undefined ? after * 1000 : backoffMs(failures, initialDelayMs, maxDelayMs);
        } finally {
          clearTimeout(idle);
          stop.removeEventListener('abort', onStop);
          connection.abort();
        }
        await sleep(waitMs, stop);
      }
    } catch (err) {
      if (stop.aborted) return;
      throw err;
    }
  }
}
