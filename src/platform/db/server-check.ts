import { ConfigError, isEmbedded, type Config } from '../config';
import type { Logger } from '../logger';
import type { Db } from './database';
import { dialectFor } from './dialect';

/** Bytes a batch row takes in a statement besides its value: the key, the numbers, each parameter's header. */
const ROW_OVERHEAD_BYTES = 256;

/** The largest statement a full batch (MAX_BATCH_ITEMS items, MAX_BATCH_BYTES of values) takes, about. */
export function fullBatchStatementBytes(config: Pick<Config, 'maxBatchBytes' | 'maxBatchItems'>): number {
  return config.maxBatchBytes + config.maxBatchItems * ROW_OVERHEAD_BYTES + 1024;
}

/**
 * What a start that failed on the database's TLS (a certificate not trusted or not for this host, no TLS offered)
 * becomes: a ConfigError that names the settings, since every retry would fail the same way, so that the start
 * stops with that one line and no worker is started again for it. Undefined for any other failure.
 */
export function refusedTls(config: Config, err: unknown): ConfigError | undefined {
  if (dialectFor(config).classify(err) !== 'tls') return undefined;
  return new ConfigError(tlsRefusal(config, (err as Error).message), { cause: err });
}

function tlsRefusal({ dbTls }: Config, reason: string): string {
  const settings = [
    `ssl-mode=${dbTls.mode}`,
    ...[dbTls.ca, dbTls.client?.cert].flatMap((file) => (file ? [`${file.setting}=${file.path}`] : [])),
  ].join(', ');
  const signed = "the server's certificate signed by DB_SSL_CA (or, without it, by a public CA)";
  const needed =
    dbTls.mode === 'VERIFY_IDENTITY'
      ? `certificate verification needs ${signed} and issued for the host name of DATABASE_URL`
      : dbTls.mode === 'VERIFY_CA'
        ? `certificate verification needs ${signed}`
        : 'the server must offer TLS';
  return `TLS to the database failed (${settings}): ${reason}; ${needed}`;
}

/**
 * Says at start whether the connection is encrypted, what the server is and what of it matters: a Galera
 * cluster (and what the service does about it), and a max_allowed_packet too small for a full batch, with the
 * setting to change. A batch that does not fit is answered 413 naming the limit (db-errors.ts), never sent to be
 * cut off.
 */
export async function checkServer(config: Config, db: Db, logger: Logger): Promise<void> {
  const server = await db.server();
  if (!isEmbedded(config)) {
    const sslMode = config.dbTls.mode;
    if (server.tls !== undefined) logger.info({ tls: server.tls, sslMode }, `database connection: TLS (${server.tls})`);
    else if (sslMode === 'PREFERRED') {
      logger.warn({ sslMode }, 'database connection: unencrypted (ssl-mode=PREFERRED and the server offers no TLS)');
    } else logger.info({ sslMode }, 'database connection: unencrypted (DATABASE_URL ?ssl-mode=… encrypts it)');
  }
  if (server.galera) {
    logger.info(
      { cluster: 'galera' },
      'a Galera cluster: each session reads what the cluster committed before it (wsrep_sync_wait = 1), the ' +
        "server's retry of autocommit statements is off (the service retries conflicts itself), the purge " +
        'takes turns by a lease',
    );
  }
  const needed = fullBatchStatementBytes(config);
  if (server.maxStatementBytes !== undefined && server.maxStatementBytes < needed) {
    logger.warn(
      { maxAllowedPacket: server.maxStatementBytes, fullBatchBytes: needed },
      `the database's max_allowed_packet (${server.maxStatementBytes} bytes) cannot hold a full batch ` +
        `(about ${needed} bytes with MAX_BATCH_ITEMS=${config.maxBatchItems} and ` +
        `MAX_BATCH_BYTES=${config.maxBatchBytes}): set max_allowed_packet = ${Math.ceil(needed / 1048576)}M or more ` +
        'on the server, or lower MAX_BATCH_BYTES; larger batches are refused with 413',
    );
  }
}
