import type { Config } from '../../platform/config';
import { momentOf, type Clock } from '../../platform/clock';
import type { CursorCodec } from '../../platform/cursor';
import { AppError } from '../../platform/errors';
import { prefixRange } from '../../platform/db/prefix-range';
import type { KeyRange, ListedObject, ObjectsRepository, StoredObject } from './objects.repository';
import type { WritePipeline } from './write-pipeline';
import type { WriteQueue } from './write-queue';
import { isExpired, type WriteOutcome } from './write-model';
import { checkKey, expiresIn } from './object-rules';
import { distinct, objectView, type Consistency, type ObjectView } from './objects.service';
import type { ReadCache } from './read-cache';

export interface ListQuery {
  prefix?: string;
  limit?: number;
  cursor?: string;
  values?: boolean;
  count?: boolean;
}

export interface ListPage {
  items: (Omit<ObjectView, 'valueJson'> & { valueJson?: string })[];
  cursor: string | null;
  complete: boolean;
  count?: number;
}

const DEFAULT_LIMIT = 100;
/** A page with values stops before its values pass this many bytes (the batch limit's order of size). */
export const LIST_VALUES_MAX_BYTES = 4 * 1024 * 1024;

/** Where a listing stands: the last key a page gave. */
interface ListPosition {
  after: string;
}

/** The key space as a whole: listing by prefix, reading and deleting many keys at once, deleting a range. */
export class KeySpaceService {
  constructor(
    private readonly config: Config,
    private readonly objects: ObjectsRepository,
    private readonly pipeline: WritePipeline,
    private readonly writes: WriteQueue,
    private readonly cursors: CursorCodec,
    private readonly clock: Clock,
    /** Undefined with READ_CACHE_MB=0: eventual reads are strong ones. */
    private readonly cache: ReadCache | undefined,
  ) {}

  /**
   * A page of live keys under a prefix, in byte order of their UTF-8 form. Pages follow on from the last key
   * given (keyset pagination), so a key that exists for the whole listing is given exactly once.
   */
  async list(tenantId: number, query: ListQuery): Promise<ListPage> {
    const prefix = query.prefix ?? '';
    const scope = `objects\u0000${tenantId}\u0000${prefix}`;
    const after = query.cursor === undefined ? undefined : this.cursors.decode<ListPosition>(query.cursor, scope).after;
    const limit = query.limit ?? DEFAULT_LIMIT;
    const now = this.clock.nowSeconds();
    const range = prefixRange(prefix);
    const rows = await this.objects.list(tenantId, range, after, limit + 1, now, query.values === true);
    const page: ListedObject[] = [];
    let valueBytes = 0;
    for (const row of rows.slice(0, limit)) {
      valueBytes += row.value === undefined ? 0 : Buffer.byteLength(row.value, 'utf8');
      if (page.length > 0 && valueBytes > LIST_VALUES_MAX_BYTES) break;
      page.push(row);
    }
    const complete = page.length === rows.length;
    return {
      items: page.map((row) => ({
        key: row.key,
        valueJson: row.value,
        metadataJson: row.metadata,
        ttl: row.expiresAt ?? 0,
        expiresIn: expiresIn(row.expiresAt, now),
        version: row.version,
        size: row.size,
      })),
      cursor: complete ? null : this.cursors.encode({ after: page[page.length - 1].key } satisfies ListPosition, scope),
      complete,
      ...(query.count ? { count: await this.objects.count(tenantId, range, now) } : {}),
    };
  }

  /**
   * The live objects of these keys, in the order asked, and the keys that have none. Eventual: from this
   * process's cache where it may, `ageMs` the age of the oldest answer it gave (undefined: all from the database).
   */
  async getMany(
    tenantId: number,
    keys: string[],
    consistency: Consistency,
  ): Promise<{ found: ObjectView[]; missing: string[]; ageMs: number | undefined }> {
    this.checkKeys(keys);
    const now = this.clock.nowSeconds();
    let stored: Map<string, StoredObject>;
    let ageMs: number | undefined;
    if (consistency === 'eventual' && this.cache) {
      ({ objects: stored, ageMs } = await this.cache.getMany(tenantId, keys, now));
    } else {
      stored = new Map((await this.objects.getMany(tenantId, keys)).map((o) => [o.key, o]));
    }
    const found: ObjectView[] = [];
    const missing: string[] = [];
    for (const key of keys) {
      const object = stored.get(key);
      if (object && !isExpired(object.expiresAt, now)) found.push(objectView(object, now));
      else missing.push(key);
    }
    return { found, missing, ageMs };
  }

  /** Deletes these keys in one transaction and one revision; refunds exactly what they held. */
  deleteMany(tenantId: number, keys: string[]): Promise<WriteOutcome> {
    if (keys.length > this.config.maxBatchItems) {
      throw AppError.badRequest(
        `keys has ${keys.length} items, over the limit of ${this.config.maxBatchItems}`,
        'BATCH_TOO_MANY_ITEMS',
      );
    }
    this.checkKeys(keys);
    return this.writes.run(tenantId, { kind: 'delete', keys }, momentOf(this.clock));
  }

  /**
   * Deletes every key under a prefix (every key, for undefined) in chunks of PURGE_CHUNK_ROWS, each chunk one
   * transaction that deletes and refunds together: the ledger is exact at every commit however large the range.
   * The range is walked once in key order, so a key written meanwhile behind the walk survives. Returns how many
   * live objects it deleted.
   */
  async deletePrefix(tenantId: number, prefix: string | undefined): Promise<number> {
    const range: KeyRange = prefix === undefined ? { from: '', to: undefined } : prefixRange(prefix);
    const chunk = this.config.purgeChunkRows;
    let after: string | undefined;
    let deleted = 0;
    for (;;) {
      const step = await this.pipeline.deleteRangeChunk(tenantId, range, after, chunk, momentOf(this.clock));
      deleted += step.deleted;
      if (step.removed < chunk) return deleted;
      after = step.lastKey;
    }
  }

  private checkKeys(keys: string[]): void {
    for (const key of keys) checkKey(key);
    distinct(keys, (index, key) => `keys item ${index}: "${key}" appears twice`);
  }
}
