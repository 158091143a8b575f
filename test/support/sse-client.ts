import http from 'node:http';

/** One Server-Sent Event as a client parses it; `data` is parsed JSON where it is JSON. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/** A change event as the feed sends it: `version` is the revision. */
export interface ChangeData {
  key: string;
  version: number;
  ttl: number;
  size: number;
  metadata?: unknown;
  value?: unknown;
}

/**
 * A change stream (GET /api/watch) read by a plain HTTP client, as a browser's EventSource would read it, without
 * its reconnection: the test decides when to reconnect. Events are kept in the order received; `waitFor` waits
 * for a condition on them with a bounded wait.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** The body of an answer that is not a stream (an error), parsed. */
  body: Record<string, unknown> | undefined;
  ended = false;
  private buffer = '';
  private waiters: (() => void)[] = [];
  private response: http.IncomingMessage | undefined;

  private constructor(private readonly req: http.ClientRequest) {}

  /**
   * Opens a stream and resolves once the service has answered: for a 200, once its first comment (sent right
   * after the stream is attached to the feed) has arrived; otherwise once the whole error body has.
   */
  static open(baseUrl: string, path: string, headers: Record<string, string>): Promise<SseStream> {
    return new Promise((resolve, reject) => {
      const req = http.get(new URL(path, baseUrl), { headers: { Accept: 'text/event-stream', ...headers } });
      const stream = new SseStream(req);
      req.on('error', (err) => {
        stream.end();
        if (stream.status === 0) reject(err);
      });
      req.on('response', (res) => {
        stream.status = res.statusCode ?? 0;
        stream.response = res;
        stream.headers = res.headers;
        res.setEncoding('utf8');
        if (stream.status !== 200) {
          let text = '';
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            stream.body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
            stream.end();
            resolve(stream);
          });
          return;
        }
        let opened = false;
        res.on('data', (chunk: string) => {
          stream.receive(chunk);
          if (!opened && stream.comments.length > 0) {
            opened = true;
            resolve(stream);
          }
        });
        res.on('end', () => stream.end());
        res.on('close', () => stream.end());
      });
    });
  }

  /** The change events received (put, delete, expire), with their data. */
  get changes(): (ChangeData & { type: string; id: string | undefined })[] {
    return this.events
      .filter((e) => ['put', 'delete', 'expire'].includes(e.event))
      .map((e) => ({ ...(e.data as unknown as ChangeData), type: e.event, id: e.id }));
  }

  /** The id of the last event that carried one: where a client resumes from. */
  get lastEventId(): string | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i].id !== undefined) return this.events[i].id;
    return undefined;
  }

  /** Resolves once `condition` holds; rejects after `timeoutMs`, saying what had been received. */
  waitFor(condition: (s: SseStream) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; ended=${this.ended}, received ` +
              JSON.stringify(this.events.slice(-20)),
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!condition(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Waits until a change event of this revision (or a later one) has arrived. */
  waitForRevision(revision: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(
      (s) => s.changes.some((c) => c.version >= revision),
      `a change of revision ${revision}`,
      timeoutMs,
    );
  }

  /** Waits until the service has ended the stream. */
  waitForEnd(timeoutMs?: number): Promise<void> {
    return this.waitFor((s) => s.ended, 'the end of the stream', timeoutMs);
  }

  /** The client stops reading (a slow consumer): what the service sends piles up in the sockets' buffers. */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  /** The client goes away (a disconnect). */
  close(): void {
    this.req.destroy();
    this.end();
  }

  private end(): void {
    this.ended = true;
    this.notify();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let at: number;
    while ((at = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      this.parse(block);
    }
    this.notify();
  }

  private parse(block: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === 'id') id = value;
      else if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
      else continue;
      fields++;
    }
    if (fields === 0 || data.length === 0) return;
    const text = data.join('\n');
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    this.events.push({ id, event, data: parsed });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Resolves once `condition` resolves true, checking again after each `everyMs`; rejects after `timeoutMs`. */
export async function eventually(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
