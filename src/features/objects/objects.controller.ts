import type { Request, Response } from 'express';
import { AppError, quotaExceeded, tenantGone } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import { rfc3339 } from '../../platform/clock';
import type { ObjectRequest, ObjectService, ObjectView } from './objects.service';
import type { KeySpaceService, ListQuery } from './key-space.service';
import type { WriteOutcome } from './write-model';
import type { HistoryService } from './history.service';
import { notModified, preconditionFailed, setEtag, writePrecondition } from './preconditions';

/** HTTP in, HTTP out for objects; the rules are in the services and the write pipeline. */
export class ObjectController {
  constructor(
    private readonly objects: ObjectService,
    private readonly keySpace: KeySpaceService,
    private readonly history: HistoryService,
  ) {}

  put = async (req: Request, res: Response): Promise<void> => {
    const outcome = await this.objects.put(tenantOf(req), req.body as ObjectRequest, writePrecondition(req));
    setEtag(res, written(outcome, true).version);
    res.status(201).end();
  };

  /**
   * GET and HEAD: HEAD answers the same status and headers (ETag, Content-Length), without the body. `?version=`
   * reads that version, live or kept.
   */
  get = async (req: Request, res: Response): Promise<void> => {
    const version = (res.locals.query as { version?: number } | undefined)?.version;
    const view =
      version === undefined
        ? await this.objects.get(tenantOf(req), keyOf(req))
        : await this.history.version(tenantOf(req), keyOf(req), version);
    setEtag(res, view.version);
    if (notModified(req, view.version)) {
      res.status(304).end();
      return;
    }
    res.status(200).type('application/json').send(objectJson(view));
  };

  delete = async (req: Request, res: Response): Promise<void> => {
    const outcome = await this.objects.delete(tenantOf(req), keyOf(req), writePrecondition(req));
    if (outcome.status !== 'unchanged') written(outcome, true);
    res.status(204).end();
  };

  putBatch = async (req: Request, res: Response): Promise<void> => {
    const outcome = await this.objects.putBatch(tenantOf(req), req.body as ObjectRequest[]);
    setEtag(res, written(outcome, false).version);
    res.status(201).end();
  };

  versions = async (req: Request, res: Response): Promise<void> => {
    const page = await this.history.page(
      tenantOf(req),
      keyOf(req),
      res.locals.query as { limit?: number; before?: string },
    );
    const items = page.items.map(
      (v) =>
        `{"version":${v.version},"value":${v.valueJson ?? 'null'}${metadataField(v.metadataJson)},"ttl":${v.ttl},` +
        `"deleted":${v.deleted},"written_at":${v.writtenAtMs === null ? 'null' : JSON.stringify(rfc3339(v.writtenAtMs))}}`,
    );
    res
      .status(200)
      .type('application/json')
      .send(`{"items":[${items.join(',')}],"cursor":${JSON.stringify(page.cursor)}}`);
  };

  clearVersions = async (req: Request, res: Response): Promise<void> => {
    await this.history.clear(tenantOf(req), keyOf(req));
    res.status(204).end();
  };

  getMany = async (req: Request, res: Response): Promise<void> => {
    const { found, missing } = await this.keySpace.getMany(tenantOf(req), (req.body as { keys: string[] }).keys);
    res
      .status(200)
      .type('application/json')
      .send(`{"items":[${found.map(objectJson).join(',')}],"missing":${JSON.stringify(missing)}}`);
  };

  deleteMany = async (req: Request, res: Response): Promise<void> => {
    const outcome = await this.keySpace.deleteMany(tenantOf(req), (req.body as { keys: string[] }).keys);
    const deleted = outcome.status === 'unchanged' ? 0 : written(outcome, false).deleted;
    res.status(200).json({ deleted });
  };

  list = async (req: Request, res: Response): Promise<void> => {
    const page = await this.keySpace.list(tenantOf(req), res.locals.query as ListQuery);
    const items = page.items.map((item) => {
      const value = item.valueJson === undefined ? '' : `,"value":${item.valueJson}`;
      return `{"key":${JSON.stringify(item.key)},"size":${item.size},"ttl":${item.ttl},"expires_in":${item.expiresIn},"version":${item.version}${metadataField(item.metadataJson)}${value}}`;
    });
    const count = page.count === undefined ? '' : `,"count":${page.count}`;
    res
      .status(200)
      .type('application/json')
      .send(
        `{"items":[${items.join(',')}],"cursor":${JSON.stringify(page.cursor)},"list_complete":${page.complete}${count}}`,
      );
  };

  deletePrefix = async (req: Request, res: Response): Promise<void> => {
    const query = res.locals.query as { prefix?: string; all?: boolean };
    if (query.all === true && query.prefix !== undefined) {
      throw AppError.badRequest('prefix: send a prefix or all=true, not both', 'VALIDATION_FAILED');
    }
    if (query.all !== true && !query.prefix) {
      throw AppError.badRequest(
        'prefix: a non-empty prefix is required (or all=true to delete every key)',
        'VALIDATION_FAILED',
      );
    }
    res
      .status(200)
      .json({ deleted: await this.keySpace.deletePrefix(tenantOf(req), query.all ? undefined : query.prefix) });
  };
}

/**
 * The key of a route `/api/object/*key`: its path segments, each percent-decoded, joined with "/", so that
 * `/api/object/a/b` and `/api/object/a%2Fb` name the same key.
 */
export function keyOf(req: Request): string {
  const key = req.params.key as string | string[];
  return Array.isArray(key) ? key.join('/') : key;
}

/** The stored JSON is already compact: splice it in rather than parse and serialise it again. */
function objectJson(view: ObjectView): string {
  return (
    `{"key":${JSON.stringify(view.key)},"value":${view.valueJson},"ttl":${view.ttl},` +
    `"expires_in":${view.expiresIn},"version":${view.version}${metadataField(view.metadataJson)}}`
  );
}

function metadataField(metadataJson: string | null): string {
  return metadataJson === null ? '' : `,"metadata":${metadataJson}`;
}

/** A write's outcome as the client hears it: the written outcome, or the error it earned. */
function written(outcome: WriteOutcome, single: boolean): Extract<WriteOutcome, { status: 'written' }> {
  switch (outcome.status) {
    case 'written':
      return outcome;
    case 'unchanged':
      throw new Error('a write that changed nothing has no version');
    case 'precondition_failed':
      throw preconditionFailed(outcome.failed, single);
    case 'quota_exceeded':
      throw quotaExceeded();
    case 'no_tenant':
      throw tenantGone();
  }
}
