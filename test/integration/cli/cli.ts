import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_ROOT } from '../../support/service-process';

/** The `tenantkv` bin as npm installs it: packages/cli/dist/main.js, run through its `#!/usr/bin/env node` line. */
export const CLI_ENTRY = path.join(SERVICE_ROOT, 'packages', 'cli', 'dist', 'main.js');

/** Builds the client and the command line as `make build-cli` does, once per test file (a few seconds). */
export function buildCli(): void {
  for (const workspace of ['packages/client', 'packages/cli']) {
    execFileSync('npm', ['run', '--silent', 'build', '--workspace', workspace], {
      cwd: SERVICE_ROOT,
      stdio: 'inherit',
    });
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; without it stdin is empty (a pipe, never a terminal). */
  input?: string | Buffer;
}

/**
 * Runs `tenantkv` as a real process with an environment of its own: only PATH, a HOME and XDG_CONFIG_HOME of the
 * suite's own, and what the suite and the call add (nothing of the test runner's TENANTKV_* leaks in).
 */
export class Cli {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-cli-'));
  readonly configFile = path.join(this.home, 'config', 'tenantkv', 'config.json');

  constructor(private readonly env: Record<string, string>) {}

  private environment(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, 'config'),
      ...this.env,
      ...extra,
    };
  }

  spawn(args: string[], env?: Record<string, string>): ChildProcess {
    return spawn(CLI_ENTRY, args, { env: this.environment(env), stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /**
   * Runs it on a pseudo-terminal (util-linux `script`), as in an operator's shell: stdin and stderr are a TTY, and
   * `output` is all the terminal showed. `reply` is typed once the output shows `after` (a prompt).
   */
  onTerminal(
    args: string[],
    options: { env?: Record<string, string>; reply?: { after: string; send: string } } = {},
  ): Promise<{ code: number | null; output: string }> {
    const line = [CLI_ENTRY, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
    // Wide enough that a progress bar's line is never cut to the terminal's width.
    const child = spawn('script', ['-qfec', `stty cols 200 && exec ${line}`, '/dev/null'], {
      env: this.environment(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    const reply = options.reply;
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (reply && output.includes(reply.after) && !child.stdin?.writableEnded) child.stdin?.end(reply.send);
    });
    if (!reply) child.stdin?.end();
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, output }));
    });
  }

  run(args: string[], options: RunOptions = {}): Promise<CliResult> {
    const child = this.spawn(args, options.env);
    return collect(child, options.input);
  }

  /** Runs it and expects exit 0, giving stdout. */
  async ok(args: string[], options: RunOptions = {}): Promise<string> {
    const result = await this.run(args, options);
    if (result.code !== 0) {
      throw new Error(`tenantkv ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
    }
    return result.stdout;
  }

  /** Runs it and parses each line of stdout as JSON. */
  async json<T = Record<string, unknown>>(args: string[], options: RunOptions = {}): Promise<T[]> {
    return (await this.ok(args, options))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
  }

  cleanup(): void {
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

export function collect(child: ChildProcess, input?: string | Buffer): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin?.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Lines a long-running command prints, awaited as they come (a watch). */
export class LineReader {
  readonly lines: string[] = [];
  private partial = '';
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString('utf8')).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.wake?.();
    });
    child.once('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Resolves once `count` lines have come; fails if the process ends first or after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (this.ended) throw new Error(`the command ended after ${this.lines.length} of ${count} lines`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out after ${this.lines.length} of ${count} lines:\n${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.lines.slice(0, count);
  }
}
