import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, isEmbedded, type Config } from '../../platform/config';

/**
 * JWT_SECRET_KEY if set. The embedded mode makes one up once and keeps it in DATA_DIR, so that tokens survive
 * a restart; with MySQL the service serves many instances and must be told its secret.
 */
export function resolveJwtSecret(config: Config): string {
  if (config.jwtSecret !== undefined) {
    if (config.jwtSecret.length < 32) throw new ConfigError('JWT_SECRET_KEY must be at least 32 characters');
    return config.jwtSecret;
  }
  if (!isEmbedded(config)) {
    throw new ConfigError('JWT_SECRET_KEY is required with DATABASE_URL (generate one: openssl rand -hex 32)');
  }
  const file = path.join(config.dataDir, 'jwt-secret');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, crypto.randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return fs.readFileSync(file, 'utf8').trim();
}
