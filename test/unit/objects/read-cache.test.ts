import v8 from 'node:v8';
import vm from 'node:vm';
import { ENTRY_OVERHEAD_BYTES, ReadCache } from '../../../src/features/objects/read-cache';
import type { ObjectsRepository, StoredObject } from '../../../src/features/objects/objects.repository';
import type { WorkerBus } from '../../../src/platform/worker-bus';

/**
 * The cache's own rules, without a database: fills are handed in as the repository would hand them (the
 * repository is never called here), and time is jest's. What reaches the cache from a real database, another
 * instance and the change feed is in test/integration/objects/read-cache.test.ts.
 */
const NO_DATABASE = {} as ObjectsRepository;
const NO_SIBLINGS: WorkerBus = { publish: async () => undefined, subscribe: () => undefined };
const MB = 1024 * 1024;
const BOUND_MS = 1000;

function cache(maxMb: number, follow: () => void = () => undefined): ReadCache {
  return new ReadCache(maxMb, BOUND_MS, NO_DATABASE, NO_SIBLINGS, false, follow);
}

/**
 * A string as mysql2 hands one back, decoded from the packet: flat. A template literal is a tree of pieces
 * (a cons string) whose size in the heap depends on whether a collection has flattened it yet.
 */
function decoded(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** A row as mysql2 hands one back: fresh flat strings. */
function stored(key: string, valueBytes: number, version = 1, expiresAt: number | null = null): StoredObject {
  const value = decoded(JSON.stringify(`${key}:${'v'.repeat(Math.max(0, valueBytes - key.length - 3))}`));
  return { key: decoded(key), value, metadata: null, size: value.length, expiresAt, version, writtenAtMs: 1 };
}

function fill(c: ReadCache, tenantId: number, revision: number, objects: StoredObject[], absent: string[] = []): void {
  const ticket = c.ticket(tenantId);
  c.fill(ticket, revision, [...objects.map((o) => o.key), ...absent], objects);
  c.settle(ticket);
}

const NOW = 1_000;

/** A cache filled to `bytes` with values of a few sizes and keys like a client's, held by the cache alone. */
function fillToHeld(caches: ReadCache[], bytes: number): number {
  const c = cache(64);
  caches.push(c);
  const sizes = [40, 200, 1000, 4000];
  for (let i = 0; c.usedBytes < bytes; i++) {
    fill(c, 1 + (i % 50), 1, [stored(`users/${i}/profile`, sizes[i % sizes.length], i)], [decoded(`absent/${i}`)]);
  }
  return c.usedBytes;
}

describe('ReadCache', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('keeps its entries within READ_CACHE_MB, the least recently used going first', () => {
    const c = cache(1);
    fill(c, 1, 5, [stored('first', 200)]);
    const perEntry = c.usedBytes;
    expect(perEntry).toBeGreaterThanOrEqual(ENTRY_OVERHEAD_BYTES + 200);
    for (let i = 0; i < 20_000; i++) {
      fill(c, 1 + (i % 7), 5, [stored(`k${i}`, 200)]);
      // The first entry, read all along, is the most recently used every time the cache is full.
      expect(c.lookup(1, 'first', NOW)?.object?.key).toBe('first');
      expect(c.usedBytes).toBeLessThanOrEqual(MB);
    }
    expect(c.usedBytes).toBeGreaterThan(MB - 2 * perEntry);
    // The newest stayed, the oldest went.
    expect(c.lookup(1 + (19_999 % 7), 'k19999', NOW)).toBeDefined();
    expect(c.lookup(1, 'k0', NOW)).toBeUndefined();
  });

  it('counts two bytes a character for text beyond Latin-1, as V8 stores it', () => {
    const ascii = cache(1);
    fill(ascii, 1, 1, [{ ...stored('a', 0), value: '"' + 'x'.repeat(1000) + '"' }]);
    const wide = cache(1);
    fill(wide, 1, 1, [{ ...stored('a', 0), value: '"' + '€'.repeat(1000) + '"' }]);
    // The whole string is then two bytes a character, its quotes too.
    expect(wide.usedBytes - ascii.usedBytes).toBe(1002);
  });

  it('does not under-count: the cache holds no more heap than the bytes it counts', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    jest.useRealTimers();
    // Only the array refers to the cache, so that letting go of it leaves nothing in this frame holding it.
    const caches: ReadCache[] = [];
    const counted = fillToHeld(caches, 48 * MB);
    // What the cache holds is what letting it go gives back; growth elsewhere in the process meanwhile is not its.
    gc();
    const holding = process.memoryUsage().heapUsed;
    caches.length = 0;
    gc();
    const held = holding - process.memoryUsage().heapUsed;
    expect(held).toBeLessThanOrEqual(counted);
    // …and not grossly over-count either, or READ_CACHE_MB would buy much less than it says.
    expect(held).toBeGreaterThan(counted * 0.6);
  });

  it('never hands one tenant another tenant’s entry', () => {
    const c = cache(1);
    fill(c, 1, 3, [stored('shared', 10, 3)]);
    fill(c, 2, 8, [], ['shared']);
    expect(c.lookup(1, 'shared', NOW)?.object?.version).toBe(3);
    expect(c.lookup(2, 'shared', NOW)).toEqual({ object: undefined, ageMs: 0 });
    expect(c.lookup(3, 'shared', NOW)).toBeUndefined();
  });

  it('serves an entry for the bound after its read or the last confirmation, never after', () => {
    const followed: number[] = [];
    const c = cache(1, () => followed.push(1));
    fill(c, 1, 4, [stored('a', 10, 4)]);
    expect(followed).toEqual([1]);
    expect(c.following()).toEqual(new Map([[1, 4]]));
    jest.advanceTimersByTime(BOUND_MS);
    expect(c.lookup(1, 'a', NOW)?.ageMs).toBe(BOUND_MS);
    jest.advanceTimersByTime(1);
    expect(c.lookup(1, 'a', NOW)).toBeUndefined();
    // A poll sent now that finds nothing new makes it good for another bound.
    c.caughtUp(1, 4, 4, new Map(), performance.now());
    jest.advanceTimersByTime(BOUND_MS);
    expect(c.lookup(1, 'a', NOW)?.object?.version).toBe(4);
    jest.advanceTimersByTime(1);
    expect(c.lookup(1, 'a', NOW)).toBeUndefined();
  });

  it('never serves an expired object', () => {
    const c = cache(1);
    fill(c, 1, 2, [stored('ttl', 10, 2, NOW + 5)]);
    expect(c.lookup(1, 'ttl', NOW + 4)?.object?.key).toBe('ttl');
    expect(c.lookup(1, 'ttl', NOW + 5)).toBeUndefined();
    expect(c.entryCount).toBe(0);
  });

  it('forgets what the feed says changed; forgets the tenant when it cannot say, or the tenant is gone', () => {
    const c = cache(1);
    fill(c, 1, 10, [stored('a', 10), stored('b', 10), stored('c', 10)]);
    c.caughtUp(1, 10, 12, new Map([['a', 11]]), performance.now());
    expect([c.lookup(1, 'a', NOW), c.lookup(1, 'b', NOW)?.object?.key]).toEqual([undefined, 'b']);
    expect(c.following().get(1)).toBe(12);
    // A poll that read an older state of the tenant than the cache has now says nothing about it.
    c.caughtUp(1, 10, 13, undefined, performance.now());
    expect(c.lookup(1, 'b', NOW)).toBeDefined();
    c.caughtUp(1, 12, 20, undefined, performance.now());
    expect(c.entryCount).toBe(0);
    fill(c, 1, 20, [stored('a', 10)]);
    c.gone(1);
    expect(c.entryCount).toBe(0);
    expect(c.following().size).toBe(0);
  });

  it('keeps an entry read after the change the feed reports: its snapshot already holds it', () => {
    const c = cache(1);
    fill(c, 1, 10, [stored('a', 10, 10)]);
    // Another instance writes b (revision 11); this process reads b before its poll comes back with the change.
    fill(c, 1, 11, [stored('b', 10, 11)]);
    c.caughtUp(
      1,
      10,
      12,
      new Map([
        ['b', 11],
        ['a', 12],
      ]),
      performance.now(),
    );
    expect([c.lookup(1, 'a', NOW), c.lookup(1, 'b', NOW)?.object?.version]).toEqual([undefined, 11]);
    // Nor does a poll that cannot name the keys forget what was read at or after the revision it brings.
    fill(c, 1, 14, [stored('c', 10, 14)]);
    c.caughtUp(1, 12, 14, undefined, performance.now());
    expect([c.lookup(1, 'b', NOW), c.lookup(1, 'c', NOW)?.object?.version]).toEqual([undefined, 14]);
  });

  it('turns away a fill older than what it has applied, or under way when this process wrote the tenant', () => {
    const c = cache(1);
    fill(c, 1, 10, [stored('a', 10, 10)]);
    c.caughtUp(1, 10, 15, new Map([['b', 15]]), performance.now());
    fill(c, 1, 14, [stored('b', 10, 14)]);
    expect(c.lookup(1, 'b', NOW)).toBeUndefined();
    fill(c, 1, 15, [stored('b', 10, 15)]);
    expect(c.lookup(1, 'b', NOW)?.object?.version).toBe(15);

    const during = c.ticket(1);
    c.written(1, ['z']);
    c.fill(during, 16, ['z'], [stored('z', 10, 15)]);
    c.settle(during);
    expect(c.lookup(1, 'z', NOW)).toBeUndefined();
    // A new tenant too: its first read can be overtaken by a write as well.
    const first = c.ticket(2);
    c.written(2, ['n']);
    c.fill(first, 3, ['n'], []);
    c.settle(first);
    expect(c.lookup(2, 'n', NOW)).toBeUndefined();
    expect(c.following().has(2)).toBe(false);
  });

  it('drops the keys this process writes, at once', () => {
    const c = cache(1);
    fill(c, 1, 10, [stored('a', 10), stored('b', 10)]);
    c.written(1, ['a']);
    expect([c.lookup(1, 'a', NOW), c.lookup(1, 'b', NOW)?.object?.key]).toEqual([undefined, 'b']);
  });
});
