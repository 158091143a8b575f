import fs from 'node:fs';
import { UsageError } from './failure';

/** All of stdin, as bytes. */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A secret typed at the terminal, not echoed; on stderr the prompt, so that stdout stays the command's output. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new UsageError('no terminal to ask for the password on: pipe it in with --password-stdin');
  }
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new UsageError('interrupted'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    // Echo is off before the prompt shows, so that nothing typed after it is ever echoed.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** The password from stdin (`--password-stdin`: one line, its line ending dropped) or asked for at the terminal. */
export async function readPassword(fromStdin: boolean, prompt = 'Password: '): Promise<string> {
  const password = fromStdin ? (await readStdin()).toString('utf8').replace(/\r?\n$/, '') : await promptHidden(prompt);
  if (password === '') throw new UsageError('the password is empty');
  return password;
}

/**
 * The value of `kv put`: the argument, the file (`--file`) or stdin (`-`, or `--file -`); parsed as JSON when it
 * is JSON, else kept as a string (always a string with `--string`). Files and stdin are taken byte for byte.
 */
export async function readValue(
  argument: string | undefined,
  options: { file?: string; string?: boolean },
): Promise<unknown> {
  if (argument !== undefined && options.file !== undefined) {
    throw new UsageError('give the value as an argument or with --file, not both');
  }
  let text: string;
  if (options.file === '-' || argument === '-') text = (await readStdin()).toString('utf8');
  else if (options.file !== undefined) text = fs.readFileSync(options.file, 'utf8');
  else if (argument !== undefined) text = argument;
  else throw new UsageError('no value: give it as an argument, with --file <path>, or on stdin with -');
  if (options.string) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A JSON object from an option such as `--metadata '{"owner":"ada"}'`. */
export function parseJsonObject(text: string, option: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${option}: not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`${option}: must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
