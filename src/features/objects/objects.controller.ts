import type { Request, Response } from 'express';
import { AppError, objectNotFound, quotaExceeded, tenantGone } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import { rfc3339 } from '../../platform/clock';
import type { Consistency, ObjectRequest, ObjectService, ObjectView } from './objects.service';
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
   * reads that version, live or kept. `?consistency=eventual` lets this process's cache answer (a version read
   * is strong: a version never changes).
   */
  get = async (req: Request, res: Response): Promise<void> => {
    const query = res.locals.query as { version?: number; consistency?: Consistency } | undefined;
    let view: ObjectView;
    if (query?.version !== undefined) {
      res.setHeader(CONSISTENCY, 'strong');
      view = await this.history.version(tenantOf(req), keyOf(req), query.version);
    } else if (query?.consistency === 'eventual') {
      const read = await this.objects.getEventual(tenantOf(req), keyOf(req));
      setConsistency(res, read.ageMs);
      if (!read.view) throw objectNotFound();
      view = read.view;
    } else {
      res.setHeader(CONSISTENCY, 'strong');
      view = await this.objects.get(tenantOf(req), keyOf(req));
    }
    setEtag(res, view.version);
    if (notModified(req, view.version)) {
      res.status(304).end();
      return;
    }
    sendJson(res, objectJson(view));
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
    const consistency = (res.locals.query as { consistency?: Consistency } | undefined)?.consistency ?? 'strong';
    const { found, missing, ageMs } = await this.keySpace.getMany(
      tenantOf(req),
      (req.body as { keys: string[] }).keys,
      consistency,
    );
    setConsistency(res, ageMs);
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

const CONSISTENCY = 'X-Consistency';

/**
 * 200 with a body that is already compact JSON, straight to Node: what res.type().send() would send, without
 * parsing the content type twice and checking freshness again (the hottest answer; 304 is decided before). A
 * HEAD gets the same headers and no body: Node drops a HEAD response's body itself.
 */
function sendJson(res: Response, json: string): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/** Which path answered a read: the database now (strong), or this process's cache, `ageMs` old (eventual). */
function setConsistency(res: Response, ageMs: number | undefined): void {
  if (ageMs === undefined) {
    res.setHeader(CONSISTENCY, 'strong');
    return;
  }
  res.setHeader(CONSISTENCY, 'eventual');
  // RFC 9111 §5.1: whole seconds.
  res.setHeader('Age', String(Math.floor(ageMs / 1000)));
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
