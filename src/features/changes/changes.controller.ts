import crypto from 'node:crypto';
import type { Request, Response } from 'express';
import { AppError } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import { prefixRange } from '../../platform/db/prefix-range';
import type { Principal } from '../../platform/principal';
import type { ChangesQuery, ChangesService } from './changes.service';
import type { FeedHub } from './feed-hub';
import { changeJson } from './change-format';

/** HTTP in, HTTP out for the change feed: a stream of Server-Sent Events, or JSON pages. */
export class ChangesController {
  constructor(
    private readonly service: ChangesService,
    private readonly hub: FeedHub,
    private readonly maxWatchers: number,
  ) {}

  /**
   * GET /api/watch: the tenant's changes under a prefix, as they commit, after `Last-Event-ID` (which a
   * browser's EventSource sends when it reconnects, so it wins) or `since`, else from now.
   */
  watch = async (req: Request, res: Response): Promise<void> => {
    if (!req.accepts('text/event-stream')) {
      throw new AppError('NOT_ACCEPTABLE', 'the change feed is text/event-stream (or GET /api/changes for JSON)');
    }
    const query = res.locals.query as { prefix?: string; since?: number; values?: boolean };
    const tenantId = tenantOf(req);
    const start = await this.service.startAfter(tenantId, lastEventId(req) ?? query.since);
    const id = crypto.randomUUID();
    if (!(await this.hub.admit(id, tenantId))) {
      throw new AppError('TOO_MANY_WATCHERS', `at most ${this.maxWatchers} change streams may be open per tenant`);
    }
    // The client left, or the request budget answered, while the slot was being taken: the stream never starts.
    if (res.destroyed || res.headersSent) {
      this.hub.release(id);
      return;
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      // Proxies (nginx) would otherwise hold events back to fill their buffers.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`: watching changes after revision ${start}\nretry: 1000\n\n`);
    this.hub.attach(
      {
        id,
        tenantId,
        principal: req.user as Principal,
        range: prefixRange(query.prefix ?? ''),
        values: query.values === true,
        res,
      },
      start,
    );
  };

  /** GET /api/changes: the same changes as JSON pages; the next page is `since=<revision>`. */
  page = async (req: Request, res: Response): Promise<void> => {
    const query = res.locals.query as ChangesQuery;
    const page = await this.service.page(tenantOf(req), query);
    const values = query.values === true;
    res
      .status(200)
      .type('application/json')
      .send(
        `{"changes":[${page.changes.map((c) => changeJson(c, values, true)).join(',')}],` +
          `"revision":${page.revision},"more":${page.more}}`,
      );
  };
}

function lastEventId(req: Request): number | undefined {
  const header = req.get('last-event-id');
  if (header === undefined || header.trim() === '') return undefined;
  if (!/^\d{1,15}$/.test(header.trim())) {
    throw AppError.badRequest('Last-Event-ID: expected the revision of the last event received', 'VALIDATION_FAILED');
  }
  return Number(header.trim());
}
