import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * CPU accounting from /proc, so that a run on a shared machine says how much CPU the process under test spent
 * per request (robust to noise) and how much everything else on the machine took meanwhile (the noise itself).
 */

/** USER_HZ: the unit of /proc/<pid>/stat and /proc/stat times on Linux. */
const TICK_MS = 10;

function processTicks(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * Ticks the machine's processes ran: user, nice and system. Not interrupts, whose time no process is charged
 * for (loopback networking is mostly the bench's own), and not idle or iowait.
 */
function machineBusyTicks(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [user, nice, system] = line.trim().split(/\s+/).slice(1).map(Number);
    return user + nice + system;
  } catch {
    return 0;
  }
}

/** The local database server's pid, if it runs on this machine (mariadbd or mysqld). */
export function findDatabasePid(): number | undefined {
  try {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        if (comm === 'mariadbd' || comm === 'mysqld') return Number(entry);
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

const databasePid = findDatabasePid();

export interface CpuUse {
  /** CPU time of the process(es) under test per completed operation, in microseconds. */
  subjectUsPerOp: number;
  /** Cores the process(es) under test kept busy on average. */
  subjectCores: number;
  /** Cores kept busy by everything except the bench, the processes under test and the database: interference. */
  otherCores: number;
}

/** Measures from construction to `stop`; `subject` lists the pids under test (read again at the end). */
export class CpuMeter {
  private readonly startMs = performance.now();
  private readonly startMachine = machineBusyTicks();
  private readonly startTicks: Map<number, number>;

  constructor(private readonly subject: () => number[]) {
    this.startTicks = new Map(this.tracked().map((pid) => [pid, processTicks(pid)]));
  }

  private tracked(): number[] {
    const pids = new Set([process.pid, ...this.subject()]);
    if (databasePid !== undefined) pids.add(databasePid);
    return [...pids];
  }

  stop(operations: number): CpuUse {
    const elapsedMs = Math.max(1, performance.now() - this.startMs);
    const used = (pid: number): number => (processTicks(pid) - (this.startTicks.get(pid) ?? 0)) * TICK_MS;
    const subject = new Set(this.subject());
    let subjectMs = 0;
    let knownMs = 0;
    for (const pid of new Set([...this.tracked(), ...subject])) {
      const ms = used(pid);
      knownMs += ms;
      if (subject.has(pid)) subjectMs += ms;
    }
    const machineMs = (machineBusyTicks() - this.startMachine) * TICK_MS;
    return {
      subjectUsPerOp: operations > 0 ? (subjectMs * 1000) / operations : 0,
      subjectCores: subjectMs / elapsedMs,
      otherCores: Math.max(0, machineMs - knownMs) / elapsedMs,
    };
  }
}

/**
 * On a shared machine, waits (up to maxS) for a second in which everything else keeps less than `threshold`
 * cores busy, so that a measurement does not start in the middle of someone else's build. Returns the load
 * of the last second sampled.
 */
export async function waitForQuiet(subject: () => number[], maxS: number, threshold = 0.25): Promise<number> {
  const deadline = performance.now() + maxS * 1000;
  for (;;) {
    const meter = new CpuMeter(subject);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const other = meter.stop(0).otherCores;
    if (other < threshold || performance.now() >= deadline) return other;
  }
}
