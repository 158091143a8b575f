import type { Clock } from '../../platform/clock';
import type { CursorCodec } from '../../platform/cursor';
import { objectNotFound } from '../../platform/errors';
import type { HistoryRepository } from '../history';
import type { ObjectsRepository } from './objects.repository';
import type { WritePipeline } from './write-pipeline';
import { isExpired } from './write-model';
import { expiresIn } from './object-rules';
import { objectView, type ObjectView } from './objects.service';

/** One version of a key as a reader sees it: the live one, a kept one, or a delete's tombstone. */
export interface VersionView {
  version: number;
  valueJson: string | null;
  metadataJson: string | null;
  ttl: number;
  deleted: boolean;
  writtenAtMs: number | null;
}

const DEFAULT_LIMIT = 20;

/** Where a history listing stands: below this version. */
interface HistoryPosition {
  before: number;
}

/** A key's versions: the live one and those its tenant keeps (history_depth). */
export class HistoryService {
  constructor(
    private readonly objects: ObjectsRepository,
    private readonly history: HistoryRepository,
    private readonly pipeline: WritePipeline,
    private readonly cursors: CursorCodec,
    private readonly clock: Clock,
  ) {}

  /** Newest first, the live version included; 404 for a key with neither a live version nor kept ones. */
  async page(
    tenantId: number,
    key: string,
    query: { limit?: number; before?: string },
  ): Promise<{ items: VersionView[]; cursor: string | null }> {
    const scope = `history\u0000${tenantId}\u0000${key}`;
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before =
      query.before === undefined ? undefined : this.cursors.decode<HistoryPosition>(query.before, scope).before;
    const items: VersionView[] = [];
    if (before === undefined) {
      const live = await this.objects.get(tenantId, key);
      if (live && !isExpired(live.expiresAt, this.clock.nowSeconds())) {
        items.push({
          version: live.version,
          valueJson: live.value,
          metadataJson: live.metadata,
          ttl: live.expiresAt ?? 0,
          deleted: false,
          writtenAtMs: live.writtenAtMs,
        });
      }
    }
    const kept = await this.history.page(tenantId, key, before ?? items[0]?.version, limit + 1 - items.length);
    for (const entry of kept) {
      items.push({
        version: entry.version,
        valueJson: entry.value,
        metadataJson: entry.metadata,
        ttl: entry.expiresAt ?? 0,
        deleted: entry.deleted,
        writtenAtMs: entry.writtenAtMs,
      });
    }
    if (items.length === 0 && before === undefined) throw objectNotFound();
    const page = items.slice(0, limit);
    const more = items.length > limit;
    return {
      items: page,
      cursor: more
        ? this.cursors.encode({ before: page[page.length - 1].version } satisfies HistoryPosition, scope)
        : null,
    };
  }

  /** One version: the live one, or a kept one; a version not kept (or a tombstone) is 404. */
  async version(tenantId: number, key: string, version: number): Promise<ObjectView> {
    const now = this.clock.nowSeconds();
    const live = await this.objects.get(tenantId, key);
    if (live && live.version === version && !isExpired(live.expiresAt, now)) return objectView(live, now);
    const kept = await this.history.version(tenantId, key, version);
    if (!kept || kept.deleted || kept.value === null) throw objectNotFound();
    return {
      key,
      valueJson: kept.value,
      metadataJson: kept.metadata,
      ttl: kept.expiresAt ?? 0,
      // A kept version is a past one: what it had left when it was replaced is not what a reader wants.
      expiresIn: kept.expiresAt === null ? 0 : Math.max(0, expiresIn(kept.expiresAt, now)),
      version: kept.version,
      size: kept.size,
    };
  }

  /** Forgets the key's kept versions, freeing exactly their bytes; the live version stays. */
  async clear(tenantId: number, key: string): Promise<void> {
    await this.pipeline.clearHistory(tenantId, key);
  }
}
