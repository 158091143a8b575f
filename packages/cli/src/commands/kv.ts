import { Command, Option } from 'commander';
import type { TenantKv } from '@tenantkv/client';
import { integerArgument, secondsArgument } from '../arguments';
import { tenantClient, withClient } from '../context';
import { UsageError } from '../failure';
import { parseJsonObject, readValue } from '../input';
import { formatExpiry, printJson, printLine, printPairs, printTable } from '../output';
import { exportTo, importFrom } from '../transfer';
import { formatBytes } from '../units';

/** Past this, one JSON value in a table is cut short: the table is for looking, `--json` for reading. */
const TABLE_VALUE_WIDTH = 60;

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.length > TABLE_VALUE_WIDTH ? `${text.slice(0, TABLE_VALUE_WIDTH - 1)}…` : text;
}

/** Every kv command's action gets the tenant's client first. */
function tenantAction<A extends unknown[]>(
  action: (client: TenantKv, ...args: A) => Promise<void>,
): (...args: [...A, Command]) => Promise<void> {
  return withClient(tenantClient, action);
}

function getCommand(): Command {
  return new Command('get')
    .description("print a key's value (as JSON)")
    .argument('<key>', 'the key')
    .option('--version <n>', 'a kept version instead of the live one', integerArgument)
    .option('--raw', 'a string value as it is, without quotes or a line end (anything else as compact JSON)')
    .option('--json', 'the whole object on one line: key, value, version, ttl, expires_in, metadata')
    .addHelpText(
      'after',
      `
Exits 2 when the key is absent or expired (or the version is not kept).

Examples:
  $ tenantkv kv get users/42/profile
  $ tenantkv kv get users/42/profile --version 7 --json
  $ tenantkv kv get notes/today --raw > today.txt`,
    )
    .action(
      tenantAction(async (client, key: string, o: { version?: number; raw?: boolean; json?: boolean }) => {
        const object = await client.get(key, { version: o.version });
        if (o.json) printJson(object);
        else if (o.raw)
          process.stdout.write(typeof object.value === 'string' ? object.value : JSON.stringify(object.value));
        else printLine(JSON.stringify(object.value, null, 2));
      }),
    );
}

interface PutOptions {
  file?: string;
  string?: boolean;
  ttl?: number;
  expiresIn?: number;
  ifVersion?: number;
  ifAbsent?: boolean;
  metadata?: string;
}

function putCommand(): Command {
  return new Command('put')
    .description('create or replace a key; prints its new version')
    .argument('<key>', 'the key')
    .argument('[value]', 'the value: JSON when it is valid JSON, else a string; - reads it from stdin')
    .option('-f, --file <path>', 'read the value from a file (- for stdin), JSON when it is valid JSON')
    .option('--string', 'store the value as a string even when it is valid JSON')
    .addOption(
      new Option('--ttl <unix-seconds>', 'expire at this time (unix seconds; 0 for never)')
        .argParser(integerArgument)
        .conflicts('expiresIn'),
    )
    .option('--expires-in <duration>', 'expire after this long: 90, 90s, 15m, 2h, 7d', secondsArgument)
    .addOption(
      new Option('--if-version <n>', 'only if the key is at this version (compare-and-set; exit 3 otherwise)')
        .argParser(integerArgument)
        .conflicts('ifAbsent'),
    )
    .option('--if-absent', 'only if the key does not exist (create, never replace; exit 3 otherwise)')
    .option('--metadata <json>', 'a JSON object kept with the value (counted in the quota)')
    .addHelpText(
      'after',
      `
The value is stored byte for byte from a file or stdin (a trailing newline included), and parsed as JSON when it
is valid JSON. Exits 3 when --if-version or --if-absent does not hold, 4 when the quota would be exceeded.

Examples:
  $ tenantkv kv put users/42/profile '{"plan":"pro"}'
  $ tenantkv kv put greeting hello                      # the string "hello"
  $ tenantkv kv put answer 42 --string                  # the string "42", not the number
  $ tenantkv kv put session/abc '{"user":42}' --expires-in 2h --metadata '{"owner":"web"}'
  $ tenantkv kv put config/app --file app.json --if-version 12
  $ echo '[1,2,3]' | tenantkv kv put list -`,
    )
    .action(
      tenantAction(async (client, key: string, argument: string | undefined, o: PutOptions) => {
        const value = await readValue(argument, o);
        const { version } = await client.put(key, value, {
          ttl: o.ttl,
          expiresIn: o.expiresIn,
          metadata: o.metadata === undefined ? undefined : parseJsonObject(o.metadata, '--metadata'),
          ifVersion: o.ifVersion,
          ifAbsent: o.ifAbsent,
        });
        printLine(String(version));
      }),
    );
}

function rmCommand(): Command {
  return new Command('rm')
    .description('delete keys, or every key under a prefix')
    .argument('[keys...]', 'the keys (several are deleted in one transaction)')
    .option('--prefix <prefix>', 'delete every key that starts with it instead')
    .option('--if-version <n>', 'only if the key is at this version (one key; exit 3 otherwise)', integerArgument)
    .addHelpText(
      'after',
      `
Deleting a key that is not there is no error. Several keys, or a prefix, print how many live keys were deleted.

Examples:
  $ tenantkv kv rm users/42/profile
  $ tenantkv kv rm config/app --if-version 12
  $ tenantkv kv rm a b c
  $ tenantkv kv rm --prefix sessions/`,
    )
    .action(
      tenantAction(async (client, keys: string[], o: { prefix?: string; ifVersion?: number }) => {
        if (o.prefix !== undefined) {
          if (keys.length > 0) throw new UsageError('give keys or --prefix, not both');
          if (o.prefix === '') throw new UsageError('--prefix must not be empty');
          if (o.ifVersion !== undefined) throw new UsageError('--if-version applies to one key, not a prefix');
          printLine(`deleted ${(await client.deletePrefix(o.prefix)).deleted}`);
        } else if (keys.length === 0) {
          throw new UsageError('no key: give one or more keys, or --prefix');
        } else if (keys.length === 1) {
          await client.delete(keys[0], { ifVersion: o.ifVersion });
        } else {
          if (o.ifVersion !== undefined) throw new UsageError('--if-version applies to one key');
          printLine(`deleted ${(await client.batchDelete(keys)).deleted}`);
        }
      }),
    );
}

function lsCommand(): Command {
  return new Command('ls')
    .description('list the keys under a prefix: a table, or NDJSON with --json')
    .argument('[prefix]', 'only keys that start with it', '')
    .option('--json', 'one JSON object a line (key, size, version, ttl, expires_in, metadata), streamed')
    .option('--values', "include each key's value (with --json)")
    .addHelpText(
      'after',
      `
Keys come in byte order of their UTF-8 form, every page of them. SIZE is the bytes charged to the quota (value
and metadata); EXPIRES is "-" for never.

Examples:
  $ tenantkv kv ls users/
  $ tenantkv kv ls --json --values | jq -c '{key, value}'`,
    )
    .action(
      tenantAction(async (client, prefix: string, o: { json?: boolean; values?: boolean }) => {
        if (o.values && !o.json) throw new UsageError('--values goes with --json');
        const items = client.list({ prefix, values: o.values, limit: 1000 });
        if (o.json) {
          for await (const item of items) printJson(item);
          return;
        }
        const rows: string[][] = [];
        for await (const item of items) {
          rows.push([item.key, String(item.size), String(item.version), formatExpiry(item.ttl, item.expires_in)]);
        }
        printTable(['key', 'size', 'version', 'expires'], rows, new Set([1, 2]));
      }),
    );
}

function watchCommand(): Command {
  return new Command('watch')
    .description('follow the changes under a prefix as they commit, one line per change')
    .argument('[prefix]', 'only changes to keys that start with it', '')
    .option('--since <revision>', 'start with the changes after this revision (default: from now)', integerArgument)
    .option('--values', "include each put's value")
    .option('--json', 'one JSON object a line: type, key, version (the revision), ttl, size, metadata, value')
    .addHelpText(
      'after',
      `
Each line is "<revision> <put|delete|expire> <key> <size>" (and the value, with --values). A dropped connection
is resumed where it left off, with nothing lost or repeated; the command runs until interrupted (Ctrl-C). A
revision the feed no longer keeps ends it with REVISION_COMPACTED: list the keys again, then watch from now.

Examples:
  $ tenantkv kv watch users/
  $ tenantkv kv watch --since 1200 --values --json`,
    )
    .action(
      tenantAction(async (client, prefix: string, o: { since?: number; values?: boolean; json?: boolean }) => {
        for await (const event of client.watch(prefix, { since: o.since, values: o.values })) {
          if (o.json) {
            printJson(event);
            continue;
          }
          const value = o.values && event.type === 'put' ? ` ${JSON.stringify(event.value)}` : '';
          printLine(`${event.version} ${event.type} ${event.key} ${formatBytes(event.size)}${value}`);
        }
      }),
    );
}

function historyCommand(): Command {
  return new Command('history')
    .description("list a key's versions, newest first: the live one and those the tenant keeps")
    .argument('<key>', 'the key')
    .option('--json', 'one JSON object a line: version, value, metadata, ttl, deleted, written_at')
    .addHelpText(
      'after',
      `
A tenant keeps as many versions per key as its history depth (an operator sets it: tenantkv admin tenants set
--history-depth). A delete leaves a tombstone (STATE "deleted"). Exits 2 when the key has no version at all.

Examples:
  $ tenantkv kv history config/app
  $ tenantkv kv get config/app --version 7`,
    )
    .action(
      tenantAction(async (client, key: string, o: { json?: boolean }) => {
        const rows: string[][] = [];
        for await (const item of client.history(key)) {
          if (o.json) printJson(item);
          else {
            rows.push([
              String(item.version),
              item.written_at ?? '-',
              item.deleted ? 'deleted' : 'put',
              item.deleted ? '' : shortJson(item.value),
            ]);
          }
        }
        if (!o.json) printTable(['version', 'written at', 'state', 'value'], rows, new Set([0]));
      }),
    );
}

function quotaCommand(): Command {
  return new Command('quota')
    .description("the tenant's quota and usage")
    .option('--json', "the service's answer as it is (bytes)")
    .addHelpText('after', '\nExample:\n  $ tenantkv kv quota')
    .action(
      tenantAction(async (client, o: { json?: boolean }) => {
        const q = await client.quota();
        if (o.json) return printJson(q);
        const percent = q.provisioned === 0 ? 0 : (100 * q.utilised) / q.provisioned;
        printPairs([
          ['provisioned', `${formatBytes(q.provisioned)} (${q.provisioned} bytes)`],
          ['utilised', `${formatBytes(q.utilised)} (${q.utilised} bytes, ${percent.toFixed(1)}%)`],
          ['history', `${formatBytes(q.history_bytes)} (${q.history_bytes} bytes, part of utilised)`],
          ['objects', String(q.objects)],
          ['revision', String(q.revision)],
        ]);
      }),
    );
}

function importCommand(): Command {
  return new Command('import')
    .description('write the objects of an NDJSON file (an export) to the tenant, in atomic chunks')
    .argument('[file]', 'the NDJSON file; - (the default) reads stdin', '-')
    .option('--skip-existing', 'leave keys that exist alone (resumes an import that stopped half-way)')
    .option('--json', "print the service's report as JSON")
    .addHelpText(
      'after',
      `
Lines are written in chunks of up to 1000, each all or nothing. A bad line fails its chunk and the import goes
on; a refused write (quota, an unavailable database) stops it, keeping what was written. The summary says what
was written, skipped and failed; the exit code is not 0 when anything failed or stopped (4: quota, 6: service
unavailable, 1: bad lines). A progress bar (objects, bytes, rate, ETA) is drawn on a terminal only.

Examples:
  $ tenantkv kv import backup.ndjson
  $ tenantkv kv import backup.ndjson --skip-existing    # resume after a stop
  $ other-tool | tenantkv kv import -`,
    )
    .action(tenantAction(importFrom));
}

function exportCommand(): Command {
  return new Command('export')
    .description("write the tenant's live objects as NDJSON, one object a line")
    .argument('[file]', 'the file to write; - (the default) writes stdout', '-')
    .option('--prefix <prefix>', 'only keys that start with it')
    .addHelpText(
      'after',
      `
Each line is {"key", "value", "ttl", "metadata", "version"}, in key order; \`tenantkv kv import\` reads it back. A
file is written as <file>.partial and renamed once complete. A progress bar is drawn on a terminal only.

Examples:
  $ tenantkv kv export backup.ndjson
  $ tenantkv kv export --prefix users/ | gzip > users.ndjson.gz`,
    )
    .action(
      tenantAction(async (client, file: string, o: { prefix?: string }) => {
        await exportTo(
          file,
          () => client.exportStream({ prefix: o.prefix }),
          async () => (await client.listPage({ prefix: o.prefix, limit: 1, count: true })).count ?? 0,
        );
      }),
    );
}

export function kvCommand(): Command {
  return new Command('kv')
    .description("a tenant's keys: get, put, rm, ls, watch, history, import, export, quota")
    .addCommand(getCommand())
    .addCommand(putCommand())
    .addCommand(rmCommand())
    .addCommand(lsCommand())
    .addCommand(watchCommand())
    .addCommand(historyCommand())
    .addCommand(importCommand())
    .addCommand(exportCommand())
    .addCommand(quotaCommand())
    .addHelpText(
      'after',
      `
The token is TENANTKV_TOKEN, else the one \`tenantkv login\` keeps for the service.

Examples:
  $ tenantkv kv put users/42/profile '{"plan":"pro"}'
  $ tenantkv kv ls users/
  $ tenantkv kv watch users/`,
    );
}
