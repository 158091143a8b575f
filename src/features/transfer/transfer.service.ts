import type { ValidateFunction } from 'ajv';
import type { Config } from '../../platform/config';
import { momentOf, type Clock } from '../../platform/clock';
import { AppError, quotaExceeded, tenantGone, type ErrorCode } from '../../platform/errors';
import { prefixRange } from '../../platform/db/prefix-range';
import { validationError } from '../../platform/http/openapi';
import { keepNumbersExact } from '../../platform/http/json-body';
import type { ObjectRequest, ObjectService, ObjectWrite, ObjectsRepository, WriteQueue } from '../objects';
import type { Principal } from '../../platform/principal';
import type { TenantAccess } from '../auth';
import type { BodyLine } from './ndjson';

/** An object as an export gives it: `value` and `metadata` are its stored compact JSON text. */
export interface ExportedObject {
  key: string;
  value: string;
  metadata: string | null;
  /** Unix seconds, or null for never. */
  expiresAt: number | null;
  version: number;
}

export type ImportMode = 'overwrite' | 'skip_existing';

export interface ImportReport {
  written: number;
  skipped: number;
  failed: { line: number; code: ErrorCode; message: string }[];
  stopped?: { line: number; code: ErrorCode };
}

/** Keys an export reads a page at a time (their sizes first, then their values), */
const EXPORT_PAGE_KEYS = 1000;
/** and the values it holds at a time, in bytes: a page of large values is read in several steps. */
const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;
/** Lines an import writes at most in one chunk (one transaction), the batch's byte limit aside. */
const IMPORT_CHUNK_LINES = 1000;

/** The lines of one chunk of an import, gathered until it is full, then written or refused whole. */
interface Chunk {
  firstLine: number;
  lastLine: number;
  writes: ObjectWrite[];
  keys: Set<string>;
  bytes: number;
  lines: number;
  /** Lines whose ttl has passed: nothing to write, skipped once the chunk commits. */
  expired: number;
  /** The first bad line: the chunk is not written. */
  failure?: { line: number; code: ErrorCode; message: string };
}

/** A line as the import sees it: a write, an object already expired, or the reason it is refused. */
type ReadLine = { write: ObjectWrite } | { expired: true; key: string } | { refused: AppError };

/**
 * A tenant's objects out as a stream of lines, and lines in as writes: export walks the key space a page at a
 * time (keyset pagination), so it holds one page whatever the tenant's size; import writes chunks of lines
 * through the write queue, each one batch put, so the quota, history, change records and versions are those of
 * any batch.
 */
export class TransferService {
  private readonly chunkLines: number;

  constructor(
    private readonly config: Config,
    private readonly objects: ObjectsRepository,
    private readonly rules: ObjectService,
    private readonly writes: WriteQueue,
    private readonly access: TenantAccess,
    /** The document's BatchItem schema: each line is checked as a batch item is. */
    private readonly validateItem: ValidateFunction,
    private readonly clock: Clock,
  ) {
    this.chunkLines = Math.min(IMPORT_CHUNK_LINES, config.maxBatchItems);
  }

  /**
   * The tenant's live objects under `prefix`, in byte order of their keys, a page at a time. Each page follows on
   * from the last key given, so a key that lives through the whole export is given exactly once; keys written
   * meanwhile may or may not be. A page's sizes are read first, so that it reads at most EXPORT_PAGE_BYTES of
   * values at a time (but always one object), whatever their sizes.
   */
  async *pages(tenantId: number, prefix: string): AsyncGenerator<ExportedObject[]> {
    const range = prefixRange(prefix);
    let after: string | undefined;
    for (;;) {
      const now = this.clock.nowSeconds();
      const sizes = await this.objects.list(tenantId, range, after, EXPORT_PAGE_KEYS, now, false);
      if (sizes.length === 0) return;
      for (let i = 0; i < sizes.length;) {
        let n = 1;
        let bytes = sizes[i].size;
        while (i + n < sizes.length && bytes + sizes[i + n].size <= EXPORT_PAGE_BYTES) bytes += sizes[i + n++].size;
        const page = await this.objects.list(tenantId, range, after, n, now, true);
        if (page.length === 0) return;
        // Listed with their values.
        yield page as ExportedObject[];
        after = page[page.length - 1].key;
        i += n;
      }
    }
  }

  /**
   * Writes the lines, in chunks of up to IMPORT_CHUNK_LINES lines and MAX_BATCH_BYTES of values, each one atomic
   * batch put (with `if_absent` on every item for skip_existing). A chunk also ends before a key it holds comes
   * again, so that a later line of a key replaces an earlier one, as written one after the other. A bad line
   * fails its chunk, and the import goes on with the next; a refusal of the write itself (quota, a busy
   * database) stops it there, keeping the chunks written before, and so does a suspension, a revoked token or
   * read-only mode switched on while the import runs: each chunk is admitted as a write request is.
   */
  async import(principal: Principal, lines: AsyncIterable<BodyLine>, mode: ImportMode): Promise<ImportReport> {
    const report: ImportReport = { written: 0, skipped: 0, failed: [] };
    let chunk: Chunk | undefined;
    for await (const line of lines) {
      // Once stopped, the rest of the body is read and dropped: leaving the loop would destroy the request, and
      // with it the connection the report goes back on.
      if (report.stopped || ('text' in line && line.text.trim() === '')) continue;
      const read = 'refused' in line ? line : this.read(line.text, this.clock.nowSeconds());
      const key = 'write' in read ? read.write.key : 'key' in read ? read.key : undefined;
      const bytes = 'write' in read ? read.write.size : 0;
      if (
        chunk &&
        (chunk.lines === this.chunkLines ||
          chunk.bytes + bytes > this.config.maxBatchBytes ||
          (key !== undefined && chunk.keys.has(key)))
      ) {
        await this.commit(principal, chunk, mode, report);
        chunk = undefined;
        if (report.stopped) continue;
      }
      chunk ??= { firstLine: line.number, lastLine: 0, writes: [], keys: new Set(), bytes: 0, lines: 0, expired: 0 };
      chunk.lastLine = line.number;
      chunk.lines++;
      chunk.bytes += bytes;
      if (key !== undefined) chunk.keys.add(key);
      if ('write' in read) chunk.writes.push(read.write);
      else if ('expired' in read) chunk.expired++;
      else chunk.failure ??= { line: line.number, code: read.refused.code, message: read.refused.message };
    }
    if (chunk) await this.commit(principal, chunk, mode, report);
    return report;
  }

  /** One line as a batch item: parsed as a JSON body is, checked by the BatchItem schema and the batch's rules. */
  private read(text: string, now: number): ReadLine {
    try {
      let item: unknown;
      try {
        item = JSON.parse(text);
      } catch {
        throw AppError.badRequest('the line is not valid JSON', 'MALFORMED_JSON');
      }
      // The line's object wraps its value by one level.
      item = keepNumbersExact(item, () => text, this.config.maxValueDepth + 1);
      const request = item as ObjectRequest & { metadata?: ObjectRequest['metadata'] | null };
      // As an export writes it: no metadata is null there. Its `version` is not for writing: versions are new.
      if (request !== null && typeof request === 'object' && request.metadata === null) delete request.metadata;
      if (!this.validateItem(request)) throw validationError(this.validateItem.errors, 'line');
      for (const field of ['if_version', 'if_absent'] as const) {
        if (request[field] !== undefined) {
          throw AppError.badRequest(`${field}: not in an import line (the mode decides)`, 'VALIDATION_FAILED');
        }
      }
      // An object that has expired since it was exported is no longer there: it is skipped, not refused.
      const expired = request.ttl !== undefined && request.ttl !== 0 && request.ttl <= now;
      return expired ? { expired: true, key: request.key } : { write: this.rules.batchItemWrite(request, now) };
    } catch (err) {
      if (err instanceof AppError) return { refused: err };
      throw err;
    }
  }

  /** Writes a chunk and adds what it did to the report: written, skipped, failed, or where the import stops. */
  private async commit(principal: Principal, chunk: Chunk, mode: ImportMode, report: ImportReport): Promise<void> {
    const stop = (code: ErrorCode): void => {
      report.stopped = { line: chunk.firstLine, code };
    };
    if (chunk.failure) {
      const range = `lines ${chunk.firstLine}–${chunk.lastLine}`;
      report.failed.push({ ...chunk.failure, message: `${chunk.failure.message} (nothing of ${range} was written)` });
      return;
    }
    let writes =
      mode === 'skip_existing'
        ? chunk.writes.map((w): ObjectWrite => ({ ...w, precondition: { kind: 'absent' } }))
        : chunk.writes;
    let existing = 0;
    while (writes.length > 0) {
      let outcome;
      try {
        await this.access.admitWrite(principal);
        outcome = await this.writes.run(principal.tenantId, { kind: 'put', writes }, momentOf(this.clock));
      } catch (err) {
        // Headers are out by now (see the controller): a refusal that retrying may cure ends the import here.
        if (err instanceof AppError) return stop(err.code);
        throw err;
      }
      switch (outcome.status) {
        case 'written':
        case 'unchanged': // what a put never is
          report.written += writes.length;
          writes = [];
          break;
        case 'precondition_failed': {
          // Keys that exist now, however recently created, are skipped; the others are written as one batch again.
          const present = new Set(outcome.failed.map((f) => f.key));
          existing += present.size;
          writes = writes.filter((w) => !present.has(w.key));
          break;
        }
        case 'quota_exceeded':
          return stop(quotaExceeded().code);
        case 'no_tenant':
          return stop(tenantGone().code);
      }
    }
    report.skipped += existing + chunk.expired;
  }
}
