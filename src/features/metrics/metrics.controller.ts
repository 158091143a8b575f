import type { Request, Response } from 'express';
import { METRICS_CONTENT_TYPE } from '../../platform/metrics';

/** GET /metrics on the public port, for an operator's admin key: the same text the METRICS_PORT listener serves. */
export class MetricsController {
  constructor(private readonly render: () => Promise<string>) {}

  metrics = async (_req: Request, res: Response): Promise<void> => {
    const text = await this.render();
    res.type(METRICS_CONTENT_TYPE).send(text);
  };
}
