import { AppError } from '../../platform/errors';
import { inRange, prefixRange } from '../../platform/db/prefix-range';
import type { Change, ChangesRepository } from './changes.repository';

export interface ChangesQuery {
  since?: number;
  prefix?: string;
  limit?: number;
  values?: boolean;
}

export interface ChangesPage {
  changes: Change[];
  /** The last revision the page covers: the next page is `since=<revision>`. */
  revision: number;
  more: boolean;
}

const DEFAULT_LIMIT = 100;

/**
 * The change feed's rules: where a reader starts (and when that is too long ago, 410), and the feed as JSON
 * pages for clients that cannot stream. A page never splits a revision: a batch's changes arrive together.
 */
export class ChangesService {
  constructor(private readonly changes: ChangesRepository) {}

  /**
   * The revision a reader starts after: the one it names, or the tenant's current one. One retention has dropped
   * the changes of is 410 REVISION_COMPACTED, with the oldest revision it may start from.
   */
  async startAfter(tenantId: number, since: number | undefined): Promise<number> {
    const current = (await this.changes.revisions([tenantId])).get(tenantId);
    if (current === undefined) throw AppError.unauthorized('tenant no longer exists');
    if (since === undefined) return current;
    if (since > current) {
      throw AppError.badRequest(
        `since: revision ${since} is after the tenant's current revision ${current}`,
        'VALIDATION_FAILED',
      );
    }
    const floor = (await this.changes.floors([tenantId])).get(tenantId) ?? 0;
    if (since < floor) {
      throw new AppError(
        'REVISION_COMPACTED',
        `the changes after revision ${since} are no longer kept; list the keys again, then follow from revision ${floor} or later`,
        { details: { oldest_revision: floor } },
      );
    }
    return since;
  }

  async page(tenantId: number, query: ChangesQuery): Promise<ChangesPage> {
    const since = await this.startAfter(tenantId, query.since ?? 0);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const options = { range: query.prefix ? prefixRange(query.prefix) : undefined, values: query.values === true };
    const rows = await this.changes.after(tenantId, since, limit + 1, options);
    if (rows.length <= limit) {
      // Everything up to now is in this page.
      const current = (await this.changes.revisions([tenantId])).get(tenantId) ?? since;
      return { changes: rows, revision: Math.max(current, rows.at(-1)?.revision ?? since), more: false };
    }
    const last = rows[limit - 1].revision;
    const whole =
      rows[limit].revision !== last ? rows.slice(0, limit) : rows.slice(0, limit).filter((r) => r.revision !== last);
    if (whole.length > 0) return { changes: whole, revision: whole[whole.length - 1].revision, more: true };
    // One revision holds more changes than a page: it is given whole.
    const all = await this.changes.ofRevision(tenantId, last, options.values);
    const range = options.range;
    return { changes: range ? all.filter((c) => inRange(c.key, range)) : all, revision: last, more: true };
  }
}
