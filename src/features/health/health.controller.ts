import type { Request, Response } from 'express';
import type { Db } from '../../platform/db/database';
import { databaseUnavailable } from '../../platform/errors';

export class HealthController {
  constructor(private readonly db: Db) {}

  healthz = (_req: Request, res: Response): void => {
    res.status(200).json({ status: 'ok' });
  };

  readyz = async (req: Request, res: Response): Promise<void> => {
    try {
      await this.db.sql.select('SELECT 1');
    } catch (err) {
      req.log.warn({ err }, 'readiness check: database unreachable');
      const answer = databaseUnavailable();
      res.status(503).set('Retry-After', String(answer.retryAfterSeconds)).json(answer.toJSON());
      return;
    }
    res.status(200).json({ status: 'ready' });
  };
}
