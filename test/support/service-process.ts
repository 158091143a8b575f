import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

/** The service as `make run` runs it, compiled by the global setup into dist-test/ (so it never disturbs dist/). */
export const SERVICE_ROOT = path.resolve(__dirname, '../..');
export const SERVICE_ENTRY = path.join(SERVICE_ROOT, 'dist-test', 'src', 'server.js');

export interface LogLine {
  pid: number;
  level: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * One real tenantkv process (primary and forked workers), its JSON log lines collected as they come. For the
 * properties that only several processes have: what reaches every worker, how the primary supervises them.
 */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [SERVICE_ENTRY], {
      cwd: SERVICE_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const take = (chunk: Buffer): void => {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) {
        try {
          this.lines.push(JSON.parse(part) as LogLine);
        } catch {
          this.lines.push({ pid: 0, level: 60, msg: part });
        }
      }
      for (const wake of this.waiters.splice(0)) wake();
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Resolves with the first log line that satisfies `match`, waiting for it up to `timeoutMs`. */
  async waitForLine(match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the service exited before logging what was awaited:\n${this.transcript()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a log line:\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The service's URL, once the primary says every worker listens. */
  async ready(timeoutMs = 60_000): Promise<string> {
    const line = await this.waitForLine((l) => l.msg.startsWith('tenantkv listening on'), timeoutMs);
    return String(line.url);
  }

  /** The pid of the worker that answered each request whose access-log URL satisfies `match`. */
  servedBy(match: (url: string) => boolean): Set<number> {
    return new Set(this.lines.filter((l) => typeof l.url === 'string' && l.method && match(l.url)).map((l) => l.pid));
  }

  transcript(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * HTTP connections held open, so that each request goes to the worker that accepted its connection: node:cluster
 * hands new connections to the workers in turn, so a few of them reach every worker.
 */
export class PinnedConnections {
  readonly agents: http.Agent[];

  constructor(count: number) {
    this.agents = Array.from({ length: count }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  }

  /** Sends the same request on every connection; resolves to each response's status and body. */
  each(
    url: string,
    options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<{ status: number; body: unknown }[]> {
    return Promise.all(this.agents.map((agent) => send(url, { ...options, agent })));
  }

  close(): void {
    for (const agent of this.agents) agent.destroy();
  }
}

export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown; agent?: http.Agent } = {},
): Promise<{ status: number; body: unknown; headers: http.IncomingHttpHeaders }> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent,
        headers: { ...(payload ? { 'Content-Type': 'application/json' } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
