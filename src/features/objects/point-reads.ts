import type { ObjectsRepository, StoredObject } from './objects.repository';

/**
 * Point reads that go to the database on their own, at once, before the next ones wait to go together: two, so
 * that one slow statement does not hold up every read (measured in docs/PERFORMANCE.md, "Reads").
 */
export const ALONE_IN_FLIGHT = 2;

/** At most this many reads in one coalesced statement, however many wait: a short statement stays a fast one. */
export const MAX_COALESCED_KEYS = 100;

interface Waiting {
  tenantId: number;
  key: string;
  resolve: (object: StoredObject | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * The point reads of one process (strong GETs). While fewer than `maxInFlight` are at the database, a read goes
 * on its own at once, as it always did: one reader alone never waits for company. A read that arrives while that
 * many are out waits for the next one to come back, and then everything that waited meanwhile goes as one
 * statement (`tenant_id = ? AND k IN (…)`, OR-ed per tenant), each read answered from its own rows. A read's
 * statement is always sent after the read arrived, so it sees every write acknowledged before: the strong
 * guarantee holds. The database does one statement's work for many, which is where the gain is; the cost, a
 * wait of at most one round trip, falls only on reads that arrive while others are out.
 */
export class PointReads {
  private inFlight = 0;
  private waiting: Waiting[] = [];
  /** Statements sent and the reads they carried: how much coalescing saves. */
  readonly stats = { statements: 0, reads: 0 };

  constructor(
    private readonly objects: ObjectsRepository,
    /** Infinity turns coalescing off: every read goes alone. */
    private readonly maxInFlight: number,
  ) {}

  async get(tenantId: number, key: string): Promise<StoredObject | undefined> {
    if (this.inFlight >= this.maxInFlight) {
      return new Promise((resolve, reject) => this.waiting.push({ tenantId, key, resolve, reject }));
    }
    this.inFlight++;
    this.stats.statements++;
    this.stats.reads++;
    try {
      return await this.objects.get(tenantId, key);
    } finally {
      this.inFlight--;
      if (this.waiting.length > 0) void this.sendWaiting();
    }
  }

  /** What waited (up to MAX_COALESCED_KEYS reads, the first come), as one statement. */
  private async sendWaiting(): Promise<void> {
    const batch = this.take();
    this.inFlight++;
    this.stats.statements++;
    this.stats.reads += batch.length;
    try {
      const keys = new Map<number, Set<string>>();
      for (const w of batch) {
        let set = keys.get(w.tenantId);
        if (!set) keys.set(w.tenantId, (set = new Set()));
        set.add(w.key);
      }
      const found = await this.objects.getPoints(keys);
      for (const w of batch) w.resolve(found.get(w.tenantId)?.get(w.key));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.inFlight--;
      if (this.waiting.length > 0) void this.sendWaiting();
    }
  }

  private take(): Waiting[] {
    if (this.waiting.length <= MAX_COALESCED_KEYS) {
      const all = this.waiting;
      this.waiting = [];
      return all;
    }
    return this.waiting.splice(0, MAX_COALESCED_KEYS);
  }
}
