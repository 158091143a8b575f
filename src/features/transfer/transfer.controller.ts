import type { Request, Response } from 'express';
import { AppError } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import type { Principal } from '../../platform/principal';
import type { AdminService } from '../admin';
import type { ExportedObject, ImportMode, TransferService } from './transfer.service';
import { ndjsonLines } from './ndjson';

const NDJSON = 'application/x-ndjson';

/** HTTP in, HTTP out for export and import: NDJSON streamed out with backpressure, and read in line by line. */
export class TransferController {
  constructor(
    private readonly transfer: TransferService,
    private readonly admin: AdminService,
    /** A line is one batch item: it may be as long as a request body. */
    private readonly maxLineBytes: number,
  ) {}

  exportObjects = async (req: Request, res: Response): Promise<void> => {
    await stream(res, this.transfer.pages(tenantOf(req), prefixOf(res)));
  };

  adminExport = async (req: Request, res: Response): Promise<void> => {
    const tenantId = Number(req.params.id);
    await this.admin.getTenant(tenantId);
    await stream(res, this.transfer.pages(tenantId, prefixOf(res)));
  };

  /**
   * The answer's status and headers go out before the body is read: an import takes as long as its body does,
   * and a response under way is past the request budget's 503. What is refused later is in the report.
   */
  importObjects = async (req: Request, res: Response): Promise<void> => {
    refuseOtherBodies(req);
    const mode = (res.locals.query as { mode?: ImportMode }).mode ?? 'overwrite';
    res.status(200).type('application/json');
    res.flushHeaders();
    try {
      const report = await this.transfer.import(req.user as Principal, ndjsonLines(req, this.maxLineBytes), mode);
      res.end(JSON.stringify(report));
    } catch (err) {
      // Cut off, the response tells the client that the report is missing; what committed before stays.
      res.destroy();
      if (!req.readableAborted) throw err;
    }
  };
}

function prefixOf(res: Response): string {
  return (res.locals.query as { prefix?: string } | undefined)?.prefix ?? '';
}

/**
 * Writes the pages as NDJSON, one object a line, its stored JSON spliced in as it is. Waits for 'drain' whenever
 * the socket's buffer is full, so that a slow reader holds one page at most; stops when the client leaves. The
 * status goes out with the first page, so a failure before it is answered as any other; after it, the response
 * is cut off, which a client sees as an incomplete body.
 */
async function stream(res: Response, pages: AsyncIterable<ExportedObject[]>): Promise<void> {
  let gone = false;
  res.once('close', () => (gone = true));
  const start = (): void => {
    if (!res.headersSent) res.status(200).type(NDJSON);
  };
  try {
    for await (const page of pages) {
      if (gone || res.writableEnded) return;
      start();
      if (!res.write(page.map(exportLine).join(''))) await drained(res);
    }
  } catch (err) {
    if (res.headersSent) res.destroy();
    throw err;
  }
  if (gone || res.writableEnded) return;
  start();
  res.end();
}

function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** `ttl` as every read reports it: the stored expiry in unix seconds, 0 for never. */
function exportLine(o: ExportedObject): string {
  return (
    `{"key":${JSON.stringify(o.key)},"value":${o.value},"ttl":${o.expiresAt ?? 0},` +
    `"metadata":${o.metadata ?? 'null'},"version":${o.version}}\n`
  );
}

/** The body is read here, not by express.json: refuse what this reader does not read, before the answer starts. */
function refuseOtherBodies(req: Request): void {
  if (req.is(NDJSON) === false) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `send the body as Content-Type: ${NDJSON}, one JSON object a line`);
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get('content-type') ?? '')?.[1].toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError('UNSUPPORTED_CHARSET', 'unsupported charset: use utf-8');
  }
  const encoding = req.get('content-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new AppError('UNSUPPORTED_ENCODING', 'unsupported content encoding');
  }
}
