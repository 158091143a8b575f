import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What `tenantkv login` keeps for one service: the token is a credential, hence the file's 0600. */
export interface StoredLogin {
  user_name: string;
  token: string;
  expires_at: string;
}

export interface ConfigFile {
  /** The service the last login was to: the default URL when neither --url nor TENANTKV_URL is given. */
  url?: string;
  /** Keyed by service URL, so that a token is only ever sent to the service that issued it. */
  logins: Record<string, StoredLogin>;
}

/** `$XDG_CONFIG_HOME/tenantkv/config.json`, or `~/.config/tenantkv/config.json` (the XDG default). */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'tenantkv', 'config.json');
}

/** The config file, empty when there is none; a warning on stderr when others may read the tokens in it. */
export function readConfig(file = configPath()): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { logins: {} };
    throw err;
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    process.stderr.write(
      `warning: ${file} holds tokens and is open to other users (mode ${mode.toString(8)}); run: chmod 600 ${file}\n`,
    );
  }
  const parsed = JSON.parse(text) as Partial<ConfigFile>;
  return { url: parsed.url, logins: parsed.logins ?? {} };
}

/**
 * Writes the whole file: to a new file made with mode 0600 (so the token is never readable by others, whatever
 * the umask, not even for a moment), then renamed over the old one.
 */
export function writeConfig(config: ConfigFile, file = configPath()): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'wx', 0o600);
  try {
    try {
      fs.writeFileSync(fd, `${JSON.stringify(config, null, 2)}\n`);
      // A umask never adds bits, but an explicit chmod makes 0600 hold on filesystems that ignore the open mode.
      fs.fchmodSync(fd, 0o600);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (err) {
    fs.rmSync(temporary, { force: true });
    throw err;
  }
}
