import type { Config } from '../../platform/config';
import { AppError, objectNotFound } from '../../platform/errors';
import { momentOf, type Clock } from '../../platform/clock';
import type { StoredObject } from './objects.repository';
import type { WriteQueue } from './write-queue';
import type { PointReads } from './point-reads';
import type { ReadCache } from './read-cache';
import { isExpired, type ObjectWrite, type Precondition, type WriteOutcome } from './write-model';
import { checkKey, expiresIn, expiryOf, serializeMetadata, serializeValue, type ValueLimits } from './object-rules';

/** An object as a client sends it; the schema has already checked the key's shape and the field types. */
export interface ObjectRequest {
  key: string;
  value: unknown;
  ttl?: number;
  expires_in?: number;
  metadata?: Record<string, unknown>;
  /** Batch items only: write only if the key's version is this one, or only if the key is absent. */
  if_version?: number;
  if_absent?: boolean;
}

/** An object as a client reads it. The JSON is the stored text, sent on without parsing it again. */
export interface ObjectView {
  key: string;
  valueJson: string;
  metadataJson: string | null;
  ttl: number;
  expiresIn: number;
  version: number;
  size: number;
}

/** What a read may promise: every write acknowledged before it (strong), or before at most CACHE_MAX_STALENESS_MS. */
export type Consistency = 'strong' | 'eventual';

/** An eventual read's answer (undefined: no live object), and its age when the cache gave it (undefined: the database did). */
export interface EventualView {
  view: ObjectView | undefined;
  ageMs: number | undefined;
}

export function objectView(stored: StoredObject, now: number): ObjectView {
  return {
    key: stored.key,
    valueJson: stored.value,
    metadataJson: stored.metadata,
    ttl: stored.expiresAt ?? 0,
    expiresIn: expiresIn(stored.expiresAt, now),
    version: stored.version,
    size: stored.size,
  };
}

/** The rules of a request on objects (limits, sizes, expiry, preconditions), in front of the write pipeline. */
export class ObjectService {
  private readonly single: ValueLimits;
  private readonly batchItem: ValueLimits;
  private readonly metadata: ValueLimits;

  constructor(
    private readonly config: Config,
    private readonly reads: PointReads,
    /** Undefined with READ_CACHE_MB=0: eventual reads are strong ones. */
    private readonly cache: ReadCache | undefined,
    private readonly writes: WriteQueue,
    private readonly clock: Clock,
  ) {
    this.single = { maxBytes: config.maxValueBytes, maxDepth: config.maxValueDepth };
    this.batchItem = { maxBytes: config.maxBatchItemBytes, maxDepth: config.maxValueDepth };
    this.metadata = { maxBytes: config.maxMetadataBytes, maxDepth: config.maxValueDepth };
  }

  async get(tenantId: number, key: string): Promise<ObjectView> {
    checkKey(key);
    const now = this.clock.nowSeconds();
    const stored = await this.reads.get(tenantId, key);
    if (!stored || isExpired(stored.expiresAt, now)) throw objectNotFound();
    return objectView(stored, now);
  }

  /** A read that this process's cache may answer (`consistency=eventual`). */
  async getEventual(tenantId: number, key: string): Promise<EventualView> {
    checkKey(key);
    const now = this.clock.nowSeconds();
    const { object, ageMs } = this.cache
      ? await this.cache.get(tenantId, key, now)
      : { object: await this.reads.get(tenantId, key), ageMs: undefined };
    return { view: object && !isExpired(object.expiresAt, now) ? objectView(object, now) : undefined, ageMs };
  }

  put(tenantId: number, request: ObjectRequest, precondition: Precondition | undefined): Promise<WriteOutcome> {
    const at = momentOf(this.clock);
    const write = this.toWrite(request, this.single, at.seconds);
    return this.writes.putOne(tenantId, { ...write, precondition }, at);
  }

  putBatch(tenantId: number, requests: ObjectRequest[]): Promise<WriteOutcome> {
    if (requests.length > this.config.maxBatchItems) {
      throw AppError.badRequest(
        `batch has ${requests.length} items, over the limit of ${this.config.maxBatchItems}`,
        'BATCH_TOO_MANY_ITEMS',
      );
    }
    const at = momentOf(this.clock);
    distinct(
      requests.map((r) => r.key),
      (index, key) => `batch item ${index}: key "${key}" appears twice in the batch`,
    );
    let total = 0;
    const writes = requests.map((request, index) => {
      const write = this.toWrite(request, this.batchItem, at.seconds, index);
      total += write.size;
      return write;
    });
    if (total > this.config.maxBatchBytes) {
      throw AppError.badRequest(
        `batch values total ${total} bytes, over the batch limit of ${this.config.maxBatchBytes} bytes`,
        'BATCH_TOO_LARGE',
      );
    }
    return this.writes.run(tenantId, { kind: 'put', writes }, at);
  }

  /** One item of a batch as a write, checked as putBatch checks each (an import's lines are batch items). */
  batchItemWrite(request: ObjectRequest, now: number): ObjectWrite {
    return this.toWrite(request, this.batchItem, now);
  }

  delete(tenantId: number, key: string, precondition: Precondition | undefined): Promise<WriteOutcome> {
    checkKey(key);
    return this.writes.deleteOne(tenantId, key, momentOf(this.clock), precondition);
  }

  private toWrite(request: ObjectRequest, limits: ValueLimits, now: number, index?: number): ObjectWrite {
    try {
      checkKey(request.key);
      if (request.if_version !== undefined && request.if_absent !== undefined) {
        throw AppError.badRequest('send if_version or if_absent, not both', 'INVALID_PRECONDITION');
      }
      const value = serializeValue(request.value, limits);
      const metadata = request.metadata === undefined ? undefined : serializeMetadata(request.metadata, this.metadata);
      return {
        key: request.key,
        value: value.text,
        metadata: metadata?.text ?? null,
        size: value.size + (metadata?.size ?? 0),
        expiresAt: expiryOf(request.ttl, request.expires_in, now),
        precondition:
          request.if_version !== undefined
            ? { kind: 'version', versions: [request.if_version] }
            : request.if_absent === true
              ? { kind: 'absent' }
              : undefined,
      };
    } catch (err) {
      if (index === undefined || !(err instanceof AppError)) throw err;
      throw new AppError(err.code, `batch item ${index}: ${err.message}`, { status: err.status });
    }
  }
}

/** Refuses a list of keys that names one twice, naming the first repeated. */
export function distinct(keys: string[], message: (index: number, key: string) => string): void {
  const seen = new Set<string>();
  keys.forEach((key, index) => {
    if (seen.has(key)) throw AppError.badRequest(message(index, key), 'BATCH_DUPLICATE_KEY');
    seen.add(key);
  });
}
