import pino, { type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/**
 * The service's one logger; everything else takes it as a dependency. Lines are written asynchronously, in
 * batches when busy: a synchronous write per request line cost a write(2) each and showed as the largest
 * self-time frame under load. `flushLogger` at shutdown writes what is still buffered.
 */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    pino.destination({ dest: 1, sync: false }),
  );
}

export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
