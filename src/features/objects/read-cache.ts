import type { WorkerBus } from '../../platform/worker-bus';
import type { FeedFollower } from '../changes';
import type { ObjectsRepository, StoredObject } from './objects.repository';

/**
 * What an entry costs beyond its strings' characters: the entry and its stored object, the map slot, the string
 * headers. The heap check in test/unit/objects/read-cache.test.ts holds the count to what the heap grows by; the
 * margin over it is for the heap's own slack, which the worker's RSS pays too.
 */
export const ENTRY_OVERHEAD_BYTES = 256;

/** Worker bus channel: keys a sibling worker wrote, for the others to forget at once. */
const DROP_CHANNEL = 'read-cache.drop';
/** A message names at most this many keys of a tenant; past it, the siblings forget the tenant's entries. */
const MAX_DROP_KEYS = 1000;

/** Memory a string takes in V8: one byte a character when every character is Latin-1, else two. */
function stringBytes(text: string): number {
  return Buffer.byteLength(text, 'utf8') === text.length ? text.length : 2 * text.length;
}

interface Entry {
  tenant: TenantEntries;
  key: string;
  /** undefined: the key had no object. */
  object: StoredObject | undefined;
  bytes: number;
  /** The tenant's revision in the snapshot that filled it: it holds every change up to that one. */
  revision: number;
  /** When the read that filled it was sent (performance.now()): it holds every write acknowledged before. */
  asOf: number;
  /** The LRU list, least recently used first. */
  older: Entry | undefined;
  newer: Entry | undefined;
}

/** One tenant's part of the cache, and how far it has kept up with the tenant's changes. */
class TenantEntries {
  readonly entries = new Map<string, Entry>();
  /** Every change of the tenant up to this revision has been applied; undefined until a read fills an entry. */
  revision: number | undefined;
  /** When the last poll that brought it up to date was sent (performance.now()). */
  confirmedAt = -Infinity;
  /** Moves on with every write this process makes or hears of from a sibling: a read that began before it is not kept. */
  epoch = 0;
  /** Reads at the database that may fill entries. */
  pending = 0;
}

/** A read from the database that may fill the cache: taken before the read is sent, settled once it is back. */
export interface Ticket {
  tenantId: number;
  tenant: TenantEntries;
  epoch: number;
  asOf: number;
}

/** One key's answer: the object, or undefined when the key has none; how old, in ms, when the cache gave it. */
export interface EventualAnswer {
  object: StoredObject | undefined;
  ageMs: number | undefined;
}

/** What an eventual read found (expired objects included), and the age of its oldest cached part (undefined: none). */
export interface EventualRead {
  objects: Map<string, StoredObject>;
  ageMs: number | undefined;
}

/**
 * The per-process cache of hot objects that `consistency=eventual` reads may be answered from, bounded to
 * READ_CACHE_MB and keyed by tenant and key (a tenant sees only its own entries).
 *
 * Why an answer is never older than CACHE_MAX_STALENESS_MS: an entry holds the object as one statement read it
 * together with its tenant's revision (one snapshot), so it is current at that revision. The change feed's poll
 * (FeedHub, one per process) reads the revisions of the tenants cached here and the keys changed since, and
 * drops those keys; a poll sent at time p that found nothing more confirms that every entry of the tenant still
 * there holds every write acknowledged before p. An entry is served while now − max(its read, the last
 * confirmation) is within the bound; when polls fail or stall (the database is away), entries age past it and
 * reads go to the database. A fill whose snapshot is older than the revision the cache has applied is dropped,
 * and so is one that was under way when this process wrote the tenant: writes through this process drop their
 * keys before they are acknowledged (the tenant reads its own writes at once), and tell the sibling workers,
 * who drop them as the message arrives. Expiry is checked at every read.
 */
export class ReadCache implements FeedFollower {
  private readonly tenants = new Map<number, TenantEntries>();
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  private bytes = 0;
  private readonly maxBytes: number;
  /** Keys written through this process since the siblings were last told, per tenant (undefined: all). */
  private unsent = new Map<number, Set<string> | undefined>();

  constructor(
    maxMb: number,
    private readonly maxStalenessMs: number,
    private readonly objects: ObjectsRepository,
    private readonly bus: WorkerBus,
    /** Whether this process has sibling workers to tell of its writes. */
    private readonly siblings: boolean,
    /** Called when the cache starts following a tenant: the feed must poll. */
    private readonly follow: () => void,
  ) {
    this.maxBytes = maxMb * 1024 * 1024;
    bus.subscribe(DROP_CHANNEL, (payload) => {
      for (const [tenantId, keys] of payload as [number, string[] | null][]) this.drop(tenantId, keys ?? undefined);
    });
  }

  /** Memory the entries hold, as counted against READ_CACHE_MB. */
  get usedBytes(): number {
    return this.bytes;
  }

  get entryCount(): number {
    let n = 0;
    for (const t of this.tenants.values()) n += t.entries.size;
    return n;
  }

  /** One key as an eventual read sees it: from the cache when it may, else from the database (and then kept). */
  async get(tenantId: number, key: string, nowSeconds: number): Promise<EventualAnswer> {
    const cached = this.lookup(tenantId, key, nowSeconds);
    if (cached) return cached;
    return { object: (await this.read(tenantId, [key])).objects.get(key), ageMs: undefined };
  }

  /** Many keys: each from the cache when it may, the others in one read from the database (and then kept). */
  async getMany(tenantId: number, keys: string[], nowSeconds: number): Promise<EventualRead> {
    const objects = new Map<string, StoredObject>();
    const missed: string[] = [];
    let ageMs: number | undefined;
    for (const key of keys) {
      const cached = this.lookup(tenantId, key, nowSeconds);
      if (!cached) {
        missed.push(key);
        continue;
      }
      if (cached.object) objects.set(key, cached.object);
      ageMs = Math.max(ageMs ?? 0, cached.ageMs);
    }
    if (missed.length > 0) {
      for (const [key, object] of (await this.read(tenantId, missed)).objects) objects.set(key, object);
    }
    return { objects, ageMs };
  }

  /** Reads keys from the database with their tenant's revision, and keeps what it may. */
  private async read(tenantId: number, keys: string[]): Promise<EventualRead> {
    const ticket = this.ticket(tenantId);
    try {
      const objects = new Map<string, StoredObject>();
      for (const snapshot of await this.objects.getAtRevision(tenantId, keys)) {
        this.fill(ticket, snapshot.revision, snapshot.keys, snapshot.objects);
        for (const object of snapshot.objects) objects.set(object.key, object);
      }
      return { objects, ageMs: undefined };
    } finally {
      this.settle(ticket);
    }
  }

  /**
   * The cached answer for a key if it is within the bound and not expired at `nowSeconds`; undefined sends the
   * read to the database.
   */
  lookup(
    tenantId: number,
    key: string,
    nowSeconds: number,
  ): { object: StoredObject | undefined; ageMs: number } | undefined {
    const entry = this.tenants.get(tenantId)?.entries.get(key);
    if (!entry) return undefined;
    const object = entry.object;
    if (object && object.expiresAt !== null && object.expiresAt <= nowSeconds) {
      this.remove(entry);
      return undefined;
    }
    const ageMs = performance.now() - Math.max(entry.asOf, entry.tenant.confirmedAt);
    if (ageMs > this.maxStalenessMs) return undefined;
    this.touch(entry);
    return { object, ageMs };
  }

  /** Call right before reading from the database with the tenant's revision; then `fill` or `settle`. */
  ticket(tenantId: number): Ticket {
    let tenant = this.tenants.get(tenantId);
    if (!tenant) this.tenants.set(tenantId, (tenant = new TenantEntries()));
    tenant.pending++;
    return { tenantId, tenant, epoch: tenant.epoch, asOf: performance.now() };
  }

  /**
   * What the read found: the tenant at `revision`, with the objects of `keys` that exist (the others had none).
   * Kept unless the cache has moved past that snapshot meanwhile.
   */
  fill(ticket: Ticket, revision: number, keys: string[], objects: StoredObject[]): void {
    const tenant = ticket.tenant;
    if (this.tenants.get(ticket.tenantId) !== tenant || tenant.epoch !== ticket.epoch) return;
    if (tenant.revision === undefined) {
      tenant.revision = revision;
      this.follow();
    } else if (revision < tenant.revision) {
      return;
    }
    const found = new Map(objects.map((o) => [o.key, o]));
    for (const key of keys) {
      const object = found.get(key);
      // The object's own key string, so that the entry holds one copy of it, not the request's as well.
      this.put(tenant, object?.key ?? key, object, revision, ticket.asOf);
    }
  }

  /** The read is over, filled or failed. */
  settle(ticket: Ticket): void {
    ticket.tenant.pending--;
  }

  /** Keys this process has written (committed): dropped before the write is acknowledged, and the siblings told. */
  written(tenantId: number, keys: readonly string[]): void {
    this.drop(tenantId, keys);
    if (!this.siblings) return;
    if (this.unsent.size === 0) setImmediate(this.tellSiblings);
    if (this.unsent.has(tenantId) && this.unsent.get(tenantId) === undefined) return;
    const set = this.unsent.get(tenantId) ?? new Set<string>();
    for (const key of keys) set.add(key);
    this.unsent.set(tenantId, set.size > MAX_DROP_KEYS ? undefined : set);
  }

  private readonly tellSiblings = (): void => {
    const payload = [...this.unsent].map(([tenantId, keys]) => [tenantId, keys ? [...keys] : null]);
    this.unsent = new Map();
    void this.bus.publish(DROP_CHANNEL, payload);
  };

  // ---- FeedFollower: the change feed's poll keeps the cache up with other processes' writes ----------------

  following(): Map<number, number> {
    const followed = new Map<number, number>();
    for (const [tenantId, tenant] of this.tenants) {
      if (tenant.entries.size === 0 && tenant.pending === 0) this.tenants.delete(tenantId);
      else if (tenant.revision !== undefined) followed.set(tenantId, tenant.revision);
    }
    return followed;
  }

  caughtUp(
    tenantId: number,
    from: number,
    revision: number,
    changed: ReadonlyMap<string, number> | undefined,
    at: number,
  ): void {
    const tenant = this.tenants.get(tenantId);
    // Forgotten or started afresh while the poll was out: what it read is about an older state.
    if (!tenant || tenant.revision !== from) return;
    // An entry read at a snapshot that already holds a change is kept: it was filled after the change committed.
    if (changed === undefined) {
      for (const entry of tenant.entries.values()) if (entry.revision < revision) this.remove(entry);
    } else {
      for (const [key, changedAt] of changed) {
        const entry = tenant.entries.get(key);
        if (entry && entry.revision < changedAt) this.remove(entry);
      }
    }
    tenant.revision = revision;
    tenant.confirmedAt = at;
  }

  gone(tenantId: number): void {
    this.drop(tenantId, undefined);
  }

  // ---- the entries -----------------------------------------------------------------------------------------

  /** Forgets these keys of a tenant (undefined: all its entries), and turns away fills already under way. */
  private drop(tenantId: number, keys: readonly string[] | undefined): void {
    const tenant = this.tenants.get(tenantId);
    if (!tenant) return;
    tenant.epoch++;
    if (keys === undefined) {
      this.clear(tenant);
      // Start afresh: its revision is read again with the next fill.
      this.tenants.delete(tenantId);
    } else {
      for (const key of keys) this.removeKey(tenant, key);
    }
  }

  private put(
    tenant: TenantEntries,
    key: string,
    object: StoredObject | undefined,
    revision: number,
    asOf: number,
  ): void {
    const old = tenant.entries.get(key);
    if (old) this.remove(old);
    const bytes =
      ENTRY_OVERHEAD_BYTES +
      stringBytes(key) +
      (object ? stringBytes(object.value) + (object.metadata === null ? 0 : stringBytes(object.metadata)) : 0);
    if (bytes > this.maxBytes) return;
    const entry: Entry = { tenant, key, object, bytes, revision, asOf, older: this.newest, newer: undefined };
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    tenant.entries.set(key, entry);
    this.bytes += bytes;
    while (this.bytes > this.maxBytes && this.oldest) this.remove(this.oldest);
  }

  private touch(entry: Entry): void {
    if (entry === this.newest) return;
    this.unlink(entry);
    entry.older = this.newest;
    entry.newer = undefined;
    (this.newest as Entry).newer = entry;
    this.newest = entry;
  }

  private removeKey(tenant: TenantEntries, key: string): void {
    const entry = tenant.entries.get(key);
    if (entry) this.remove(entry);
  }

  private clear(tenant: TenantEntries): void {
    for (const entry of tenant.entries.values()) this.remove(entry);
  }

  private remove(entry: Entry): void {
    this.unlink(entry);
    entry.tenant.entries.delete(entry.key);
    this.bytes -= entry.bytes;
  }

  private unlink(entry: Entry): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
  }
}
