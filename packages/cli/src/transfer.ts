import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImportReport, TenantKv } from '@tenantkv/client';
import { CliError, EXIT, exitCodeOfServiceCode, UsageError } from './failure';
import { printJson, printLine } from './output';
import { drawsProgress, startProgress, type Progress, type ProgressTotal } from './progress';

const NEWLINE = 10;

function countLines(chunk: Uint8Array): number {
  let lines = 0;
  for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) lines++;
  return lines;
}

/** The chunks of an export as they arrive, counted; a body cut off mid-way is the service's failure (exit 6). */
async function* countedExport(body: ReadableStream<Uint8Array>, progress: Progress): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const chunk = await reader.read().catch((err: unknown) => {
        throw new CliError(`the export was cut off: ${(err as Error).message}`, EXIT.unavailable);
      });
      if (chunk.done) return;
      progress.add(countLines(chunk.value), chunk.value.byteLength);
      yield chunk.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * An export, byte for byte as the service streams it, to a file or stdout (`-`). A file is written under a
 * `.partial` name and renamed when the export is complete, so that an export cut off never passes for a whole one.
 * `count` says how many objects to expect, for the bar's ETA; it is asked only when a bar is drawn.
 */
export async function exportTo(
  target: string,
  open: () => Promise<ReadableStream<Uint8Array>>,
  count: () => Promise<number>,
): Promise<void> {
  const total: ProgressTotal = drawsProgress() ? { objects: await count() } : undefined;
  const body = await open();
  const progress = startProgress('export', total);
  try {
    if (target === '-') {
      await pipeline(countedExport(body, progress), process.stdout, { end: false });
      return;
    }
    const partial = `${target}.partial`;
    try {
      await pipeline(countedExport(body, progress), fs.createWriteStream(partial));
      fs.renameSync(partial, target);
    } catch (err) {
      fs.rmSync(partial, { force: true });
      throw err;
    }
  } finally {
    progress.stop();
  }
}

/** The file's chunks as the request sends them, counted for the bar. */
async function* countedImport(input: Readable, progress: Progress): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    const bytes = chunk as Buffer;
    progress.add(countLines(bytes), bytes.byteLength);
    yield bytes;
  }
}

/** The size of what is read, when it is a regular file (`< file` on stdin too): the bar's total. */
function regularFileSize(fd: number): number | undefined {
  const stat = fs.fstatSync(fd);
  return stat.isFile() ? stat.size : undefined;
}

/**
 * Sends an NDJSON file (or stdin, `-`) to the import, streamed; prints the report and throws (exit non-zero) when a
 * chunk failed or the import stopped.
 */
export async function importFrom(
  client: TenantKv,
  source: string,
  options: { skipExisting?: boolean; json?: boolean },
): Promise<void> {
  if (source === '-' && process.stdin.isTTY) {
    throw new UsageError('the import reads NDJSON: give a file, or pipe it in (tenantkv kv import - < objects.ndjson)');
  }
  // Opened before anything is sent, so that a missing file is a plain error, not a broken upload.
  const fd = source === '-' ? 0 : fs.openSync(source, 'r');
  const size = regularFileSize(fd);
  const input: Readable = source === '-' ? process.stdin : fs.createReadStream(source, { fd });
  const progress = startProgress('import', size === undefined ? undefined : { bytes: size });
  let report: ImportReport;
  try {
    report = await client.import(countedImport(input, progress), {
      mode: options.skipExisting ? 'skip_existing' : 'overwrite',
    });
  } finally {
    progress.stop();
    if (source !== '-') input.destroy();
  }
  printImportReport(report, options.json);
  const { stopped, failed } = report;
  if (stopped) {
    throw new CliError(
      `the import stopped at line ${stopped.line} (${stopped.code}); the lines before it are written. ` +
        'Once the cause is fixed, run it again with --skip-existing to resume',
      exitCodeOfServiceCode(stopped.code),
    );
  }
  if (failed.length > 0) {
    throw new CliError(`${failed.length} chunk(s) of lines failed and were not written (lines listed above)`);
  }
}

function printImportReport(report: ImportReport, json = false): void {
  if (json) return printJson(report);
  printLine(`written ${report.written}, skipped ${report.skipped}, failed chunks ${report.failed.length}`);
  for (const f of report.failed) printLine(`  failed at line ${f.line}: ${f.message} (${f.code})`);
  if (report.stopped) printLine(`stopped at line ${report.stopped.line} (${report.stopped.code})`);
}
