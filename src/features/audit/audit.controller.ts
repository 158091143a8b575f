import type { Request, Response } from 'express';
import type { AuditPageQuery, AuditService } from './audit.service';

export class AuditController {
  constructor(private readonly audit: AuditService) {}

  page = async (_req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.audit.page(res.locals.query as AuditPageQuery));
  };

  verify = async (_req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.audit.verify());
  };
}
