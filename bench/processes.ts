import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { log } from './common';
import { request } from './http';

/**
 * The child processes the bench starts (the service, the bare Express server), so that every exit path can
 * kill them: normal end, error, signal, watchdog.
 */
const children = new Set<ChildProcess>();
/** Cluster workers seen under a service primary: killed by pid if they outlive it. */
const workerPids = new Set<number>();

/** Kills, synchronously and by pid, every child this bench started that is still running. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const pid of workerPids) killIfService(pid);
}

function killIfService(pid: number): void {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('server.js')) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Registers a step to run when the tool ends, whatever way it ends; the steps run last first. */
export type Undo = (step: () => Promise<void> | void) => void;

/**
 * Runs a bench tool's `body`: then its undo steps, last first; every child it started is killed at exit; the
 * process exits 0, or 1 after printing the error when something broke.
 */
export function runTool(name: string, body: (undo: Undo) => Promise<void>): void {
  const steps: (() => Promise<void> | void)[] = [];
  process.once('exit', killAllChildren);
  void (async (): Promise<number> => {
    try {
      await body((step) => steps.push(step));
      return 0;
    } catch (err) {
      process.stderr.write(`\n${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      return 1;
    } finally {
      for (const step of steps.reverse())
        await Promise.resolve(step()).catch((e: unknown) => log(`cleanup: ${String(e)}`));
    }
  })().then((code) => process.exit(code));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** The pids of a process's children, from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone
  }
  return pids;
}

// ---- the service -----------------------------------------------------------------------------------------

export interface ServiceOptions {
  root: string;
  databaseUrl: string;
  jwtSecret: string;
  workers: number;
  logFile: string;
  /**
   * PROFILE=1: run under --cpu-prof, writing into `dir`. The workers inherit the flag, and each process writes
   * its own file there (node's default name carries the pid): a fixed name would let the primary overwrite them.
   */
  cpuProfileDir?: string;
  /** Settings on top of the bench's own (`make bench-ab` AB_WORK_ENV). */
  env?: Record<string, string>;
}

export interface ServiceProcess {
  pid: number;
  url: string;
  workers: number;
  /** Stops the service with SIGTERM (graceful, which also writes a CPU profile), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

/** `node dist/src/server.js` in production mode, as `make run` starts it; resolves once every worker listens. */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const port = await freePort();
  const args: string[] = [];
  if (options.cpuProfileDir) {
    fs.mkdirSync(options.cpuProfileDir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  }
  args.push(path.join(options.root, 'dist', 'src', 'server.js'));
  const out = fs.openSync(options.logFile, 'w');
  const child = spawn(process.execPath, args, {
    cwd: options.root,
    // Only what the service is meant to see: no LOG_LEVEL, DB_POOL_MAX… leaking in from the caller's shell.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      DATABASE_URL: options.databaseUrl,
      JWT_SECRET_KEY: options.jwtSecret,
      PORT: String(port),
      WEB_CONCURRENCY: String(options.workers),
      ...options.env,
    },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const pid = child.pid as number;

  const stop = async (): Promise<void> => {
    for (const worker of childPids(pid)) workerPids.add(worker);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    for (const worker of workerPids) killIfService(worker);
    workerPids.clear();
    children.delete(child);
  };

  try {
    await waitUntilListening(child, options, url);
  } catch (err) {
    await stop();
    throw err;
  }
  for (const worker of childPids(pid)) workerPids.add(worker);
  return { pid, url, workers: options.workers, stop };
}

/**
 * The service says "tenantkv listening on …" once all its workers accept connections (the primary, with the
 * number of workers; releases before said it once per worker, which bench-ab's base may be): wait for that.
 */
async function waitUntilListening(child: ChildProcess, options: ServiceOptions, url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the service exited during start (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(options.logFile)}`,
      );
    }
    const listening = new Set<number>();
    let workers = 0;
    for (const line of fs.readFileSync(options.logFile, 'utf8').split('\n')) {
      if (!line.includes('tenantkv listening on')) continue;
      try {
        const entry = JSON.parse(line) as { pid: number; workers?: number };
        listening.add(entry.pid);
        workers = Math.max(workers, entry.workers ?? listening.size);
      } catch {
        // a partial line: read again on the next turn
      }
    }
    if (Math.max(workers, listening.size) >= options.workers) {
      const ready = await request('GET', `${url}/readyz`).catch(() => undefined);
      if (ready?.status === 200) return;
    }
    await sleep(100);
  }
  throw new Error(`the service did not become ready within 60 s:\n${tail(options.logFile)}`);
}

// ---- memory ----------------------------------------------------------------------------------------------

export interface ProcessMemory {
  pid: number;
  role: 'primary' | 'worker';
  /** Largest VmRSS seen while sampling. */
  peakRssMb: number;
  /** VmHWM: the kernel's own peak resident set of the process, read last before the service stops. */
  hwmMb: number;
}

export interface MemoryReport {
  processes: ProcessMemory[];
  /** Largest VmRSS of any worker during each scenario. */
  byScenario: Record<string, number>;
  /** Largest VmHWM of any serving process over the whole run. */
  workerPeakMb: number;
}

function readStatus(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Samples /proc/<pid>/status of the service and of each cluster worker (its children) every 200 ms: VmRSS for
 * the peak seen during each scenario, VmHWM for the peak the kernel recorded over the process's life.
 */
export class MemorySampler {
  private readonly seen = new Map<number, { role: ProcessMemory['role']; peakKb: number; hwmKb: number }>();
  private readonly byScenario: Record<string, number> = {};
  private scenario: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly primaryPid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 200);
  }

  /** Attributes the following samples to a scenario (undefined: to none). */
  setScenario(id: string | undefined): void {
    if (this.scenario) this.sample();
    this.scenario = id;
  }

  sample(): void {
    // The service's primary only supervises; it forks WEB_CONCURRENCY workers, one included.
    const pids = [this.primaryPid, ...childPids(this.primaryPid)];
    let servingKb = 0;
    for (const pid of pids) {
      const status = readStatus(pid);
      if (!status) continue;
      const role: ProcessMemory['role'] = pid === this.primaryPid ? 'primary' : 'worker';
      const entry = this.seen.get(pid) ?? { role, peakKb: 0, hwmKb: 0 };
      entry.peakKb = Math.max(entry.peakKb, status.rssKb);
      entry.hwmKb = Math.max(entry.hwmKb, status.hwmKb);
      this.seen.set(pid, entry);
      if (role !== 'primary') servingKb = Math.max(servingKb, status.rssKb);
    }
    if (this.scenario) {
      this.byScenario[this.scenario] = Math.max(this.byScenario[this.scenario] ?? 0, servingKb / 1024);
    }
  }

  stop(): MemoryReport {
    this.sample();
    clearInterval(this.timer);
    const processes = [...this.seen].map(([pid, m]) => ({
      pid,
      role: m.role,
      peakRssMb: m.peakKb / 1024,
      hwmMb: m.hwmKb / 1024,
    }));
    const serving = processes.filter((p) => p.role !== 'primary');
    return {
      processes,
      byScenario: { ...this.byScenario },
      workerPeakMb: Math.max(0, ...serving.map((p) => Math.max(p.hwmMb, p.peakRssMb))),
    };
  }
}

// ---- the bare Express server -----------------------------------------------------------------------------

export interface BareExpressProcess {
  url: string;
  /** The node:http hello-world server in the same process. */
  httpUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/** bench/bare-express.ts in its own single process; it prints {"port": n} once it listens. */
export async function startBareExpress(root: string, env: Record<string, string>): Promise<BareExpressProcess> {
  const script = path.join(root, 'dist-bench', 'bench', 'bare-express.js');
  const child = spawn(process.execPath, [script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    children.delete(child);
  };
  try {
    const { port, httpPort } = await new Promise<{ port: number; httpPort: number }>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`bare-express did not start within 30 s: ${stderr}`)), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (!line) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { port: number; httpPort: number });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bare-express exited with code ${code}: ${stderr}`));
      });
    });
    log(`bare Express listening on port ${port}, bare node:http on port ${httpPort} (pid ${child.pid})`);
    return { url: `http://127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${httpPort}`, pid: child.pid as number, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
