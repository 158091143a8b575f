import type { Command } from 'commander';
import { TenantKv, TenantKvAdmin } from '@tenantkv/client';
import { readConfig, type ConfigFile } from './config-file';
import { CliError, EXIT } from './failure';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Read once per run, so that a warning about its permissions is given once. */
let config: ConfigFile | undefined;
const storedConfig = (): ConfigFile => (config ??= readConfig());

/** The service: `--url`, else TENANTKV_URL, else the one of the last login, else the local default. */
export function serviceUrl(command: Command): string {
  const flag = command.optsWithGlobals<{ url?: string }>().url;
  return normaliseUrl(flag ?? process.env.TENANTKV_URL ?? storedConfig().url ?? DEFAULT_URL);
}

/** One spelling per service, so that a login is found again whichever way the URL is typed. */
function normaliseUrl(url: string): string {
  try {
    return new URL(url).toString().replace(/\/+$/, '');
  } catch {
    throw new CliError(`--url: "${url}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
}

/** A tenant's client: the token from TENANTKV_TOKEN, else the one `tenantkv login` kept for this service. */
export function tenantClient(command: Command): TenantKv {
  const baseUrl = serviceUrl(command);
  return new TenantKv({ baseUrl, token: tenantToken(baseUrl) });
}

function tenantToken(url: string): string {
  const fromEnv = process.env.TENANTKV_TOKEN;
  if (fromEnv) return fromEnv;
  const login = storedConfig().logins[url];
  if (!login) {
    throw new CliError(`not logged in to ${url}: run \`tenantkv login <user>\`, or set TENANTKV_TOKEN`, EXIT.auth);
  }
  if (Date.parse(login.expires_at) <= Date.now()) {
    throw new CliError(
      `the login to ${url} as ${login.user_name} has expired: run \`tenantkv login\` again`,
      EXIT.auth,
    );
  }
  return login.token;
}

/** An operator's client: the key from --admin-key, else TENANTKV_ADMIN_KEY. */
export function adminClient(command: Command): TenantKvAdmin {
  const adminKey = command.optsWithGlobals<{ adminKey?: string }>().adminKey ?? process.env.TENANTKV_ADMIN_KEY;
  if (!adminKey) throw new CliError('no admin key: set TENANTKV_ADMIN_KEY (or pass --admin-key)', EXIT.auth);
  return new TenantKvAdmin({ baseUrl: serviceUrl(command), adminKey });
}

/** An action that gets a client made from the command's options first (commander passes the command last). */
export function withClient<C, A extends unknown[]>(
  make: (command: Command) => C,
  action: (client: C, ...args: A) => Promise<void>,
): (...args: [...A, Command]) => Promise<void> {
  return (...args) => {
    const command = args[args.length - 1] as Command;
    return action(make(command), ...(args.slice(0, -1) as A));
  };
}
