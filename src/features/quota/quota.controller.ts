import type { Request, Response } from 'express';
import { tenantGone } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import type { LedgerRepository } from './ledger.repository';

export class QuotaController {
  constructor(private readonly ledger: LedgerRepository) {}

  quota = async (req: Request, res: Response): Promise<void> => {
    const quota = await this.ledger.quota(tenantOf(req));
    if (!quota) throw tenantGone();
    const { provisioned, utilised, objects, revision, historyBytes } = quota;
    res.status(200).json({ provisioned, utilised, objects, revision, history_bytes: historyBytes });
  };
}
