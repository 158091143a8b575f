import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Db } from './database';

/** Bytes a batch row takes in a statement besides its value: the key, the numbers, each parameter's header. */
const ROW_OVERHEAD_BYTES = 256;

/** The largest statement a full batch (MAX_BATCH_ITEMS items, MAX_BATCH_BYTES of values) takes, about. */
export function fullBatchStatementBytes(config: Pick<Config, 'maxBatchBytes' | 'maxBatchItems'>): number {
  return config.maxBatchBytes + config.maxBatchItems * ROW_OVERHEAD_BYTES + 1024;
}

/**
 * Says at start what the server is and what of it matters: a Galera cluster (and what the service does about
 * it), and a max_allowed_packet too small for a full batch, with the setting to change. A batch that does not
 * fit is answered 413 naming the limit (db-errors.ts), never sent to be cut off.
 */
export async function checkServer(config: Config, db: Db, logger: Logger): Promise<void> {
  const server = await db.server();
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
