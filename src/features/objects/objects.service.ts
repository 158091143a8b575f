import type { Config } from '../../platform/config';
import { AppError, objectNotFound } from '../../platform/errors';
import type { Clock } from '../../platform/clock';
import type { ObjectWrite, ObjectsRepository } from './objects.repository';
import type { WriteOutcome, WritePipeline } from './write-pipeline';
import type { WriteStrategy } from './write-strategies';
import { checkKey, expiryFromTtl, isExpired, serializeValue, type ValueLimits } from './object-rules';

/** An object as a client sends it; the schema has already checked the key's shape and the field types. */
export interface ObjectRequest {
  key: string;
  value: unknown;
  ttl?: number;
}

/** An object as a client reads it. `valueJson` is the stored JSON text, sent on without parsing it again. */
export interface ObjectView {
  key: string;
  valueJson: string;
  ttl: number;
}

/** The rules of a request on objects (limits, sizes, expiry), in front of the write pipeline. */
export class ObjectService {
  private readonly single: ValueLimits;
  private readonly batchItem: ValueLimits;

  constructor(
    private readonly config: Config,
    private readonly objects: ObjectsRepository,
    private readonly pipeline: WritePipeline,
    private readonly strategy: WriteStrategy,
    private readonly clock: Clock,
  ) {
    this.single = { maxBytes: config.maxValueBytes, maxDepth: config.maxValueDepth };
    this.batchItem = { maxBytes: config.maxBatchItemBytes, maxDepth: config.maxValueDepth };
  }

  async get(tenantId: number, key: string): Promise<ObjectView> {
    checkKey(key);
    const stored = await this.objects.get(tenantId, key);
    if (!stored || isExpired(stored.expiresAt, this.clock.nowSeconds())) throw objectNotFound();
    return { key, valueJson: stored.value, ttl: stored.expiresAt ?? 0 };
  }

  put(tenantId: number, request: ObjectRequest): Promise<WriteOutcome> {
    const now = this.clock.nowSeconds();
    return this.strategy.putOne(tenantId, this.toWrite(request, this.single, now), now);
  }

  putBatch(tenantId: number, requests: ObjectRequest[]): Promise<WriteOutcome> {
    if (requests.length > this.config.maxBatchItems) {
      throw AppError.badRequest(
        `batch has ${requests.length} items, over the limit of ${this.config.maxBatchItems}`,
        'BATCH_TOO_MANY_ITEMS',
      );
    }
    const now = this.clock.nowSeconds();
    const seen = new Set<string>();
    let total = 0;
    const writes = requests.map((request, index) => {
      if (seen.has(request.key)) {
        throw AppError.badRequest(
          `batch item ${index}: key "${request.key}" appears twice in the batch`,
          'BATCH_DUPLICATE_KEY',
        );
      }
      seen.add(request.key);
      const write = this.toWrite(request, this.batchItem, now, index);
      total += write.size;
      return write;
    });
    if (total > this.config.maxBatchBytes) {
      throw AppError.badRequest(
        `batch values total ${total} bytes, over the batch limit of ${this.config.maxBatchBytes} bytes`,
        'BATCH_TOO_LARGE',
      );
    }
    return this.pipeline.put(tenantId, writes, now);
  }

  delete(tenantId: number, key: string): Promise<WriteOutcome> {
    checkKey(key);
    return this.strategy.deleteOne(tenantId, key);
  }

  private toWrite(request: ObjectRequest, limits: ValueLimits, now: number, index?: number): ObjectWrite {
    try {
      checkKey(request.key);
      const { text, size } = serializeValue(request.value, limits);
      return { key: request.key, value: text, size, expiresAt: expiryFromTtl(request.ttl, now) };
    } catch (err) {
      if (index === undefined || !(err instanceof AppError)) throw err;
      throw new AppError(err.code, `batch item ${index}: ${err.message}`, err.status);
    }
  }
}
