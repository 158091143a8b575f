import { Format, SingleBar, type Options, type Params } from 'cli-progress';
import { formatBytes } from './units';

/** What an import or export has moved so far; `add` is called as lines go by. */
export interface Progress {
  add(objects: number, bytes: number): void;
  stop(): void;
}

/** What the bar measures itself against, when it is known beforehand. */
export type ProgressTotal = { bytes: number } | { objects: number } | undefined;

const quiet: Progress = { add: () => undefined, stop: () => undefined };

const count = new Intl.NumberFormat('en');
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

/** Bars are drawn only when stderr is a terminal: in a pipe, a log file or CI the commands are quiet. */
export function drawsProgress(): boolean {
  return Boolean(process.stderr.isTTY);
}

/**
 * A progress bar on stderr (objects, bytes, rate, and the ETA when the total is known), drawn only when stderr is
 * a terminal: in a pipe, a log file or CI the command is quiet, and stdout (an export) is never touched.
 */
export function startProgress(label: string, total: ProgressTotal): Progress {
  if (!drawsProgress()) return quiet;
  let objects = 0;
  let bytes = 0;
  const measure = (): number => (total && 'bytes' in total ? bytes : objects);
  // An import's bytes are all sent before the service has written its last chunk.
  const finished = total && 'bytes' in total ? 'all sent' : 'done';
  const format = (options: Options, params: Params): string => {
    const seconds = Math.max((Date.now() - params.startTime) / 1000, 0.001);
    const moved = `${count.format(objects)} objects, ${formatBytes(bytes)}`;
    const rate = `${compact.format(objects / seconds)} objects/s, ${formatBytes(Math.round(bytes / seconds))}/s`;
    if (!total) return `${label} ${moved} | ${rate}`;
    const eta = params.value === 0 ? 'ETA -' : `ETA ${Format.TimeFormat(params.eta, options, 1)}`;
    const state = params.value >= params.total ? finished : eta;
    const percent = Math.floor(Math.min(params.progress, 1) * 100);
    return `${label} ${Format.BarFormat(params.progress, options)} ${percent}% | ${state} | ${moved} | ${rate}`;
  };
  const bar = new SingleBar({
    format,
    stream: process.stderr,
    barsize: 20,
    barCompleteChar: '\u2588',
    barIncompleteChar: '\u2591',
    hideCursor: true,
    linewrap: true,
    fps: 10,
    etaBuffer: 50,
  });
  bar.start(total ? ('bytes' in total ? total.bytes : total.objects) : 0, 0);
  return {
    add(moreObjects, moreBytes) {
      objects += moreObjects;
      bytes += moreBytes;
      bar.update(measure());
    },
    stop() {
      bar.update(measure());
      bar.stop();
    },
  };
}
