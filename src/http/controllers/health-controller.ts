import type { Request, Response } from 'express';
import type { Db } from '../../db/knex';
import { AppError } from '../../errors';

export class HealthController {
  constructor(private readonly db: Db) {}

  healthz = (_req: Request, res: Response): void => {
    res.status(200).json({ status: 'ok' });
  };

  readyz = async (req: Request, res: Response): Promise<void> => {
    try {
      await this.db.knex.raw('SELECT 1');
    } catch (err) {
      req.log.warn({ err }, 'readiness check: database unreachable');
      const error = new AppError(503, 'DATABASE_UNAVAILABLE', 'database unreachable');
      res.status(503).json(error.toJSON());
      return;
    }
    res.status(200).json({ status: 'ready' });
  };
}
