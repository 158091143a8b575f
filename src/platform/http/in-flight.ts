import type { Request, RequestHandler, Response } from 'express';
import { busy, type AppError } from '../errors';

/** Set on a response that the budget has answered: whatever the handler does later is dropped. */
const BUDGET_SPENT = 'tenantkv.budgetSpent';

/** A request in flight, in a list in the order they arrived. */
interface Entry {
  res: Response;
  at: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

const ENTRY = Symbol('tenantkv.inFlight');
type Tracked = Response & { [ENTRY]?: Entry };

/**
 * The requests a process has accepted and not yet answered, oldest first. Two things need them: a graceful
 * shutdown (what is still running), and the total time budget per request. Every wait below a request is bounded
 * (a pooled connection, a row lock, the conflict retries), and the budget bounds their sum: a request not answered
 * within `budgetMs` is answered 503 BUSY with Retry-After, through `answer` (the app's error rendering); the work
 * it started runs to its own bounded end, its result unsent.
 *
 * Every request has the same budget, so the oldest is always the first due: one timer sweeps from the oldest
 * while anything is in flight. Each response gets one shared listener and its place in a linked list: a timer and
 * closures per request, or a Map keyed by the response, cost a GET measurably more (docs/PERFORMANCE.md).
 */
export class InFlight {
  private head: Entry | undefined;
  private tail: Entry | undefined;
  private count = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sweepEveryMs: number;
  private readonly forget: (this: Tracked) => void;

  constructor(
    private readonly budgetMs: number,
    private readonly answer: (req: Request, res: Response, error: AppError) => void,
  ) {
    this.sweepEveryMs = Math.max(10, Math.min(100, budgetMs / 10));
    // One function for every response (the emitter is `this`): nothing is allocated per request to forget it.
    const unlink = (entry: Entry): void => this.unlink(entry);
    this.forget = function (this: Tracked) {
      const entry = this[ENTRY];
      if (entry) unlink(entry);
    };
  }

  /** The middleware that tracks each request from the moment the app sees it until its response closes. */
  readonly track: RequestHandler = (_req, res, next) => {
    const entry: Entry = { res, at: performance.now(), prev: this.tail, next: undefined };
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.count++;
    (res as Tracked)[ENTRY] = entry;
    res.on('close', this.forget);
    if (!this.sweeper) this.sweeper = setInterval(this.sweep, this.sweepEveryMs).unref();
    next();
  };

  get size(): number {
    return this.count;
  }

  *responses(): IterableIterator<Response> {
    for (let entry = this.head; entry; entry = entry.next) yield entry.res;
  }

  private unlink(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = undefined;
    (entry.res as Tracked)[ENTRY] = undefined;
    this.count--;
    if (this.count === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private readonly sweep = (): void => {
    const due = performance.now() - this.budgetMs;
    let entry = this.head;
    while (entry && entry.at <= due) {
      const { res, next } = entry;
      // Headers sent (a change stream, a response on its way): past the point where a 503 can be said.
      if (!res.headersSent && !res.writableEnded && !budgetSpent(res)) {
        res.locals[BUDGET_SPENT] = true;
        this.answer(res.req, res, busy(`no answer within the request budget of ${this.budgetMs} ms; retry shortly`));
      }
      entry = next;
    }
  };
}

export function budgetSpent(res: Response): boolean {
  return res.locals[BUDGET_SPENT] === true;
}
