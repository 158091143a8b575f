import pino, { type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/** The service's one logger; everything else takes it as a dependency. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
  });
}
