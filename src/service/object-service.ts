import type { Config } from '../config';
import { AppError, objectNotFound, quotaExceeded } from '../errors';
import type { ObjectRepository, ObjectWrite, WriteOutcome } from '../db/repositories/object-repository';
import type { Quota, TenantRepository } from '../db/repositories/tenant-repository';
import type { Clock } from './clock';
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

/** The rules of storing objects: limits, sizes, expiry and the quota decision's outcome. */
export class ObjectService {
  private readonly single: ValueLimits;
  private readonly batchItem: ValueLimits;

  constructor(
    private readonly config: Config,
    private readonly objects: ObjectRepository,
    private readonly tenants: TenantRepository,
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

  async put(tenantId: number, request: ObjectRequest): Promise<void> {
    const now = this.clock.nowSeconds();
    const write = this.toWrite(request, this.single, now);
    outcome(await this.objects.put(tenantId, write, now));
  }

  async putBatch(tenantId: number, requests: ObjectRequest[]): Promise<void> {
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
    outcome(await this.objects.putMany(tenantId, writes, now));
  }

  async delete(tenantId: number, key: string): Promise<void> {
    checkKey(key);
    await this.objects.delete(tenantId, key);
  }

  async quota(tenantId: number): Promise<Quota> {
    const quota = await this.tenants.quota(tenantId);
    if (!quota) throw AppError.unauthorized('tenant no longer exists');
    return quota;
  }

  private toWrite(request: ObjectRequest, limits: ValueLimits, now: number, index?: number): ObjectWrite {
    try {
      checkKey(request.key);
      const { text, size } = serializeValue(request.value, limits);
      return { key: request.key, value: text, size, expiresAt: expiryFromTtl(request.ttl, now) };
    } catch (err) {
      if (index === undefined || !(err instanceof AppError)) throw err;
      throw new AppError(err.status, err.code, `batch item ${index}: ${err.message}`);
    }
  }
}

function outcome(result: WriteOutcome): void {
  if (result === 'quota_exceeded') throw quotaExceeded();
  if (result === 'no_tenant') throw AppError.unauthorized('tenant no longer exists');
}
