import { Command, Option } from 'commander';
import type { Tenant, TenantKvAdmin, UpdateTenantBody } from '@tenantkv/client';
import { bytesArgument, integerArgument, limitArgument, scopesArgument, secondsArgument } from '../arguments';
import { adminClient, withClient } from '../context';
import { CliError, EXIT, UsageError } from '../failure';
import { readPassword } from '../input';
import { printJson, printLine, printPairs, printTable } from '../output';
import { exportTo } from '../transfer';
import { formatBytes } from '../units';

/** Every admin command's action gets the operator's client first. */
function withAdmin<A extends unknown[]>(
  action: (admin: TenantKvAdmin, ...args: A) => Promise<void>,
): (...args: [...A, Command]) => Promise<void> {
  return withClient(adminClient, action);
}

/** A tenant by id, or by its exact user name (looked up among the names that start with it). */
async function tenantId(admin: TenantKvAdmin, ref: string): Promise<number> {
  if (/^\d+$/.test(ref)) return Number(ref);
  for await (const tenant of admin.tenants.list({ prefix: ref, limit: 500 })) {
    if (tenant.user_name === ref) return tenant.id;
  }
  throw new CliError(`no tenant named "${ref}"`, EXIT.notFound);
}

function state(t: Tenant): string {
  return [t.suspended ? 'suspended' : 'active', ...(t.read_only ? ['read-only'] : [])].join(',');
}

const limit = (value: number | null): string =>
  value === null ? 'default' : value === 0 ? 'unlimited' : String(value);

function printTenant(t: Tenant, json?: boolean): void {
  if (json) return printJson(t);
  printPairs([
    ['id', String(t.id)],
    ['user_name', t.user_name],
    ['state', state(t)],
    ['quota', `${formatBytes(t.provisioned)} (${t.provisioned} bytes)`],
    ['utilised', `${formatBytes(t.utilised)} (${t.utilised} bytes)`],
    ['objects', String(t.objects)],
    ['history_depth', String(t.history_depth)],
    ['history_bytes', String(t.history_bytes)],
    ['rate_limit', `rps ${limit(t.rate_limit_rps)}, burst ${limit(t.rate_limit_burst)}`],
    ['created_at', t.created_at],
  ]);
}

const TENANT_ARGUMENT = ['<tenant>', "the tenant's id, or its user name"] as const;

interface TenantFields {
  quota?: number;
  historyDepth?: number;
  rateLimitRps?: number | 'default';
  rateLimitBurst?: number | 'default';
  readOnly?: boolean;
  passwordStdin?: boolean;
  promptPassword?: boolean;
  json?: boolean;
}

const apiLimit = (value: number | 'default'): number | null => (value === 'default' ? null : value);

/** The fields `create` and `set` share, as the admin API names them. */
async function tenantBody(o: TenantFields): Promise<UpdateTenantBody> {
  if (o.passwordStdin && o.promptPassword) throw new UsageError('give --password-stdin or --prompt-password, not both');
  const password = o.passwordStdin || o.promptPassword ? await readPassword(Boolean(o.passwordStdin)) : undefined;
  return {
    ...(o.quota === undefined ? {} : { provisioned_capacity: o.quota }),
    ...(o.historyDepth === undefined ? {} : { history_depth: o.historyDepth }),
    ...(o.rateLimitRps === undefined ? {} : { rate_limit_rps: apiLimit(o.rateLimitRps) }),
    ...(o.rateLimitBurst === undefined ? {} : { rate_limit_burst: apiLimit(o.rateLimitBurst) }),
    ...(o.readOnly === undefined ? {} : { read_only: o.readOnly }),
    ...(password === undefined ? {} : { password }),
  };
}

function tenantFieldOptions(command: Command, quota: string): Command {
  return command
    .option('--quota <size>', `${quota}: 10GiB, 500MB, 1.5KiB or bytes (SI and IEC units exact)`, bytesArgument)
    .option('--history-depth <n>', 'previous versions kept per key (0-100)', integerArgument)
    .option('--rate-limit-rps <n>', 'requests per second (0: unlimited; default: the instance setting)', limitArgument)
    .option('--rate-limit-burst <n>', 'requests at once from rest (default: the instance setting)', limitArgument)
    .option('--password-stdin', 'read the password from stdin (one line)')
    .option('--prompt-password', 'ask for the password on the terminal (not echoed)')
    .option('--json', 'print the tenant as JSON');
}

function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('provision tenants: quotas, suspension, limits');

  tenants
    .command('ls')
    .description('list the tenants with their usage, in creation order')
    .option('--prefix <prefix>', 'only tenants whose user name starts with it')
    .option('--json', 'one JSON object a line')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tenantkv admin tenants ls\n  $ tenantkv admin tenants ls --prefix acme --json',
    )
    .action(
      withAdmin(async (admin, o: { prefix?: string; json?: boolean }) => {
        const rows: string[][] = [];
        for await (const t of admin.tenants.list({ prefix: o.prefix, limit: 500 })) {
          if (o.json) printJson(t);
          else
            rows.push([
              String(t.id),
              t.user_name,
              formatBytes(t.provisioned),
              formatBytes(t.utilised),
              String(t.objects),
              state(t),
            ]);
        }
        if (!o.json) printTable(['id', 'user_name', 'quota', 'utilised', 'objects', 'state'], rows, new Set([0, 4]));
      }),
    );

  tenantFieldOptions(
    tenants.command('create').description('provision a tenant').argument('<user>', "the tenant's user name"),
    'its quota (required)',
  )
    .addOption(new Option('--read-only', 'start in read-only mode'))
    .addHelpText(
      'after',
      `
Without a password the tenant cannot log in and works with API tokens only (tenantkv admin tokens create).

Examples:
  $ tenantkv admin tenants create acme --quota 10GiB --prompt-password
  $ printf '%s\\n' "$PASSWORD" | tenantkv admin tenants create acme --quota 500MB --password-stdin
  $ tenantkv admin tenants create reports --quota 1.5MiB --history-depth 10 --rate-limit-rps 50`,
    )
    .action(
      withAdmin(async (admin, user: string, o: TenantFields) => {
        if (o.quota === undefined) throw new UsageError('--quota is required (e.g. --quota 10GiB)');
        const body = await tenantBody(o);
        printTenant(await admin.tenants.create({ ...body, user_name: user, provisioned_capacity: o.quota }), o.json);
      }),
    );

  tenants
    .command('get')
    .description('one tenant with its usage')
    .argument(...TENANT_ARGUMENT)
    .option('--json', 'print the tenant as JSON')
    .addHelpText('after', '\nExamples:\n  $ tenantkv admin tenants get 7\n  $ tenantkv admin tenants get acme --json')
    .action(
      withAdmin(async (admin, ref: string, o: { json?: boolean }) => {
        printTenant(await admin.tenants.get(await tenantId(admin, ref)), o.json);
      }),
    );

  tenantFieldOptions(
    tenants.command('set').description("change a tenant's quota, password, history depth, limits or read-only mode"),
    'a new quota (may be below its usage: writes that add bytes are then refused)',
  )
    .argument(...TENANT_ARGUMENT)
    .option('--read-only', 'refuse its writes (reads and exports go on)')
    .option('--no-read-only', 'lift read-only mode')
    .addHelpText(
      'after',
      `
A new password revokes the tenant's login tokens (API tokens stay valid).

Examples:
  $ tenantkv admin tenants set acme --quota 20GiB
  $ tenantkv admin tenants set 7 --rate-limit-rps 100 --rate-limit-burst 400
  $ tenantkv admin tenants set 7 --rate-limit-rps default
  $ tenantkv admin tenants set acme --read-only`,
    )
    .action(
      withAdmin(async (admin, ref: string, o: TenantFields) => {
        const body = await tenantBody(o);
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
        printTenant(await admin.tenants.update(await tenantId(admin, ref), body), o.json);
      }),
    );

  for (const [name, suspended, description] of [
    ['suspend', true, "refuse the tenant's logins and requests (403 TENANT_SUSPENDED) until resumed"],
    ['resume', false, 'give a suspended tenant its access back'],
  ] as const) {
    tenants
      .command(name)
      .description(description)
      .argument(...TENANT_ARGUMENT)
      .option('--json', 'print the tenant as JSON')
      .addHelpText('after', `\nExample:\n  $ tenantkv admin tenants ${name} acme`)
      .action(
        withAdmin(async (admin, ref: string, o: { json?: boolean }) => {
          printTenant(await admin.tenants.update(await tenantId(admin, ref), { suspended }), o.json);
        }),
      );
  }

  tenants
    .command('rm')
    .description('delete a tenant, all its objects and its tokens')
    .argument(...TENANT_ARGUMENT)
    .option('--yes', 'really delete it (required: there is no undo)')
    .addHelpText('after', '\nExample:\n  $ tenantkv admin tenants rm acme --yes')
    .action(
      withAdmin(async (admin, ref: string, o: { yes?: boolean }) => {
        if (!o.yes) throw new UsageError('deleting a tenant deletes all its objects: add --yes to go ahead');
        await admin.tenants.delete(await tenantId(admin, ref));
      }),
    );

  tenants
    .command('export')
    .description("write any tenant's live objects as NDJSON (suspended and read-only ones too)")
    .argument(...TENANT_ARGUMENT)
    .argument('[file]', 'the file to write; - (the default) writes stdout', '-')
    .option('--prefix <prefix>', 'only keys that start with it')
    .addHelpText('after', '\nExample:\n  $ tenantkv admin tenants export acme acme.ndjson')
    .action(
      withAdmin(async (admin, ref: string, file: string, o: { prefix?: string }) => {
        const id = await tenantId(admin, ref);
        await exportTo(
          file,
          () => admin.tenants.exportStream(id, { prefix: o.prefix }),
          async () => (await admin.tenants.get(id)).objects,
        );
      }),
    );

  return tenants;
}

function tokensCommand(): Command {
  const tokens = new Command('tokens').description("a tenant's API tokens, for its applications");

  tokens
    .command('create')
    .description('issue an API token (its secret is printed once)')
    .argument(...TENANT_ARGUMENT)
    .option('--scopes <scopes>', 'read, or read,write', scopesArgument, ['read', 'write'])
    .option('--expires-in <duration>', 'expire after this long (90s, 15m, 2h, 30d); default never', secondsArgument)
    .option('--name <name>', 'a name to tell it by')
    .option('--json', "print the service's answer as JSON")
    .addHelpText(
      'after',
      `
Prints the token alone (to hand to TENANTKV_TOKEN or an application); --json adds its id and expiry.

Examples:
  $ tenantkv admin tokens create acme --scopes read --name reporting --expires-in 30d
  $ export TENANTKV_TOKEN=$(tenantkv admin tokens create acme)`,
    )
    .action(
      withAdmin(
        async (
          admin,
          ref: string,
          o: { scopes: ('read' | 'write')[]; expiresIn?: number; name?: string; json?: boolean },
        ) => {
          const created = await admin.tokens.create(await tenantId(admin, ref), {
            scopes: o.scopes,
            ...(o.expiresIn === undefined ? {} : { expires_in: o.expiresIn }),
            ...(o.name === undefined ? {} : { name: o.name }),
          });
          if (o.json) printJson(created);
          else printLine(created.token);
        },
      ),
    );

  tokens
    .command('ls')
    .description("a tenant's unrevoked API tokens (never their secrets)")
    .argument(...TENANT_ARGUMENT)
    .option('--json', 'one JSON object a line')
    .addHelpText('after', '\nExample:\n  $ tenantkv admin tokens ls acme')
    .action(
      withAdmin(async (admin, ref: string, o: { json?: boolean }) => {
        const list = await admin.tokens.list(await tenantId(admin, ref));
        if (o.json) return list.forEach((t) => printJson(t));
        printTable(
          ['id', 'name', 'scopes', 'created_at', 'expires_at'],
          list.map((t) => [t.id, t.name ?? '-', t.scopes.join(','), t.created_at, t.expires_at ?? 'never']),
        );
      }),
    );

  tokens
    .command('revoke')
    .description('revoke an API token: it stops working at once')
    .argument(...TENANT_ARGUMENT)
    .argument('<token-id>', 'the id tokens ls shows (tok_…)')
    .addHelpText('after', '\nExample:\n  $ tenantkv admin tokens revoke acme tok_5f0c2a9d4e1b7c3a8f6d2e10')
    .action(
      withAdmin(async (admin, ref: string, tokenId: string) => {
        await admin.tokens.revoke(await tenantId(admin, ref), tokenId);
      }),
    );

  return tokens;
}

function auditCommand(): Command {
  const audit = new Command('audit').description('the audit log of admin actions, and its hash chain');

  audit
    .command('ls')
    .description('the entries of the audit log, in id order')
    .option('--since <id>', 'entries after this id', integerArgument, 0)
    .option('--limit <n>', 'at most this many entries', integerArgument)
    .option('--json', 'one JSON object a line, as the service gives them')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tenantkv admin audit ls --since 1200\n  $ tenantkv admin audit ls --json | jq .action',
    )
    .action(
      withAdmin(async (admin, o: { since: number; limit?: number; json?: boolean }) => {
        const rows: string[][] = [];
        let left = o.limit ?? Infinity;
        if (left === 0) return;
        for await (const e of admin.audit.entries({ since: o.since, limit: Math.min(left, 1000) })) {
          if (o.json) printJson(e);
          else {
            const change = [
              e.before && `before ${JSON.stringify(e.before)}`,
              e.after && `after ${JSON.stringify(e.after)}`,
            ];
            rows.push([
              String(e.id),
              new Date(e.at).toISOString(),
              e.action,
              e.target,
              e.actor ?? '-',
              change.filter(Boolean).join(' '),
            ]);
          }
          if (--left === 0) break;
        }
        if (!o.json) printTable(['id', 'at', 'action', 'target', 'actor', 'change'], rows, new Set([0]));
      }),
    );

  audit
    .command('verify')
    .description('walk the whole audit log and check its hash chain (exit 1 when it is broken)')
    .option('--json', "print the service's verdict as JSON")
    .addHelpText('after', '\nExample:\n  $ tenantkv admin audit verify')
    .action(
      withAdmin(async (admin, o: { json?: boolean }) => {
        const verdict = await admin.audit.verify();
        if (o.json) printJson(verdict);
        else if (verdict.ok) printLine(`ok: ${verdict.rows_checked} entries, the chain is intact`);
        if (!verdict.ok) {
          throw new CliError(
            `the audit chain is broken at entry ${verdict.first_bad_id} (${verdict.rows_checked} entries intact before it)`,
          );
        }
      }),
    );

  return audit;
}

export function adminCommand(): Command {
  return new Command('admin')
    .description('for operators: tenants, API tokens, the audit log (needs an admin key)')
    .option(
      '--admin-key <key>',
      "one of the service's ADMIN_API_KEYS (default: TENANTKV_ADMIN_KEY; prefer the variable: a flag shows in ps)",
    )
    .addCommand(tenantsCommand())
    .addCommand(tokensCommand())
    .addCommand(auditCommand())
    .addHelpText(
      'after',
      `
Examples:
  $ export TENANTKV_ADMIN_KEY=...
  $ tenantkv admin tenants create acme --quota 10GiB --prompt-password
  $ tenantkv admin tenants set acme --quota 20GiB
  $ tenantkv admin audit verify`,
    );
}
