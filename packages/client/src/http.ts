import { errorFromResponse, NetworkError, retryAfterSeconds, type TenantKvError } from './errors.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** How both clients reach the service. Every field but `baseUrl` has a default. */
export interface ClientOptions {
  /** The service's root, e.g. `https://kv.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** Injected fetch (tests, proxies, instrumentation); default: the global one. */
  fetch?: FetchLike;
  /** Retries of one call after a 429, or a 503 or network failure of an idempotent call. Default 3; 0: none. */
  maxRetries?: number;
  /** The first backoff delay, doubled at each retry (with jitter). Default 200 ms. */
  retryDelayMs?: number;
  /**
   * The longest wait before a retry: backoff stops growing there, and a Retry-After longer than it is not waited
   * for (the error is thrown at once, its `retryAfter` says when to come back). Default 30 s.
   */
  maxRetryDelayMs?: number;
  /** One attempt's deadline, answer and body included (streams: until the answer starts). Default 30 s. */
  timeoutMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  /** A streamed body: it cannot be sent twice, so the request is never retried. */
  stream?: ReadableStream<Uint8Array>;
  /**
   * Whether sending it twice is harmless, so that it is retried after a network failure or a 503 too (where it may
   * or may not have been carried out): reads, DELETE, and compare-and-set writes, which cannot apply twice.
   */
  idempotent: boolean;
  /** Statuses at or above 400 that are answers, not errors (a HEAD's 404). */
  accept?: number[];
  signal?: AbortSignal;
}

/** A 502 or 504 comes from a proxy that may or may not have passed the request on: a network failure. */
const PROXY_FAILURES = new Set([502, 504]);
/**
 * The 503s the service answers before it starts the work. Any other 503 may come after the work was done (the
 * request budget answers BUSY while the work runs on; a connection lost at COMMIT is DATABASE_UNAVAILABLE), so,
 * like a network failure, it is retried only for calls that sending twice cannot harm. A 429 is always before.
 */
const REFUSED_BEFORE_WORK = new Set(['SERVICE_READ_ONLY']);

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random, so that clients spread out. */
export function backoffMs(attempt: number, firstMs: number, capMs: number): number {
  const delay = Math.min(capMs, firstMs * 2 ** (attempt - 1));
  return delay / 2 + Math.random() * (delay / 2);
}

/** The one HTTP path of both clients: URL, auth, JSON, deadlines, typed errors and retries. */
export class Transport {
  private readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly options: ClientOptions,
    private readonly authorization: () => string | undefined,
  ) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // A browser's fetch must be called unbound from any object but the global one.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.maxRetries = options.maxRetries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
  }

  /** The answer, its body read as text, once it is not an error (retrying what may be retried). */
  async text(spec: RequestSpec): Promise<{ status: number; headers: Headers; text: string }> {
    return this.run(spec, async (res) => ({ status: res.status, headers: res.headers, text: await res.text() }));
  }

  async json<T>(spec: RequestSpec): Promise<T> {
    const { text } = await this.text(spec);
    return JSON.parse(text) as T;
  }

  /**
   * The answer with its body unread, for streams: the deadline ends when the answer starts, the caller's signal
   * still cancels the body.
   */
  async open(spec: RequestSpec): Promise<Response> {
    return this.run(spec, async (res) => res, true);
  }

  private async run<R>(spec: RequestSpec, take: (res: Response) => Promise<R>, streaming = false): Promise<R> {
    const maxRetries = spec.stream ? 0 : this.maxRetries;
    for (let attempt = 1; ; attempt++) {
      let outcome: { value: R } | { error: TenantKvError; retryable: boolean; waitMs?: number } | undefined;
      const controller = new AbortController();
      const onAbort = (): void => controller.abort(spec.signal?.reason);
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => controller.abort(new Error('timed out')), this.timeoutMs);
      try {
        if (spec.signal?.aborted) throw spec.signal.reason;
        const res = await this.fetchFn(this.url(spec.path, spec.query), this.init(spec, controller.signal));
        if (res.status < 400 || spec.accept?.includes(res.status)) {
          // The deadline is for the answer to start: a stream (out, or a streamed body in: the service answers an
          // import's headers before it reads the body) takes as long as its data does.
          if (streaming || spec.stream) clearTimeout(timer);
          outcome = { value: await take(res) };
        } else {
          const error = errorFromResponse(res.status, res.headers, await res.text());
          if (PROXY_FAILURES.has(res.status)) outcome = { error, retryable: spec.idempotent };
          else if (res.status === 429 || (res.status === 503 && error.code !== 'ADMIN_DISABLED')) {
            const afterSeconds = retryAfterSeconds(res.headers);
            const afterMs = afterSeconds === undefined ? undefined : afterSeconds * 1000;
            // Jitter on top of Retry-After too, so that the clients it told to wait do not all come back at once;
            // never past the cap, so that the jitter alone cannot turn a wait the caller accepts into a failure.
            const waitMs =
              afterMs === undefined || afterMs > this.maxRetryDelayMs
                ? afterMs
                : Math.min(afterMs + Math.random() * Math.min(1000, afterMs / 4), this.maxRetryDelayMs);
            const untouched = res.status === 429 || REFUSED_BEFORE_WORK.has(error.code);
            outcome = { error, retryable: untouched || spec.idempotent, waitMs };
          } else outcome = { error, retryable: false };
        }
      } catch (err) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        const message = `${spec.method} ${spec.path}: ${(err as Error)?.message ?? String(err)}`;
        outcome = { error: new NetworkError(message, err), retryable: spec.idempotent };
      } finally {
        // A stream's body is read after this returns: the caller's signal must still reach it.
        if (!streaming || outcome === undefined || !('value' in outcome)) {
          clearTimeout(timer);
          spec.signal?.removeEventListener('abort', onAbort);
        }
      }
      if ('value' in outcome) return outcome.value;
      const waitMs = outcome.waitMs ?? backoffMs(attempt, this.retryDelayMs, this.maxRetryDelayMs);
      if (!outcome.retryable || attempt > maxRetries || waitMs > this.maxRetryDelayMs) {
        outcome.error.attempts = attempt;
        throw outcome.error;
      }
      await sleep(waitMs, spec.signal);
    }
  }

  private init(spec: RequestSpec, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = { ...this.options.headers, ...spec.headers };
    const authorization = this.authorization();
    if (authorization !== undefined) headers.Authorization = authorization;
    const init: RequestInit & { duplex?: 'half' } = { method: spec.method, headers, signal };
    if (spec.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(spec.json);
    } else if (spec.stream) {
      init.body = spec.stream;
      // A streamed request body must say so (the Fetch standard; Node's fetch refuses it otherwise).
      init.duplex = 'half';
    }
    return init;
  }
}
