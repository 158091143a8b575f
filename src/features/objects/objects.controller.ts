import type { Request, Response } from 'express';
import { AppError, quotaExceeded, tenantGone } from '../../platform/errors';
import { tenantOf } from '../../platform/http/tenant-of';
import type { ObjectRequest, ObjectService } from './objects.service';
import type { WriteOutcome } from './write-pipeline';

/** HTTP in, HTTP out for objects; the rules are in ObjectService and the write pipeline. */
export class ObjectController {
  constructor(private readonly objects: ObjectService) {}

  put = async (req: Request, res: Response): Promise<void> => {
    answer(await this.objects.put(tenantOf(req), req.body as ObjectRequest));
    res.status(201).end();
  };

  get = async (req: Request, res: Response): Promise<void> => {
    const view = await this.objects.get(tenantOf(req), req.params.key as string);
    // The stored value is already compact JSON: splice it in rather than parse and serialise it again.
    res
      .status(200)
      .type('application/json')
      .send(`{"key":${JSON.stringify(view.key)},"value":${view.valueJson},"ttl":${view.ttl}}`);
  };

  delete = async (req: Request, res: Response): Promise<void> => {
    answer(await this.objects.delete(tenantOf(req), req.params.key as string));
    res.status(204).end();
  };

  putBatch = async (req: Request, res: Response): Promise<void> => {
    answer(await this.objects.putBatch(tenantOf(req), req.body as ObjectRequest[]));
    res.status(201).end();
  };
}

/** A write's outcome as the client hears it: nothing to add when it was written, else the error. */
function answer(outcome: WriteOutcome): void {
  const error = outcomeError(outcome);
  if (error) throw error;
}

export function outcomeError(outcome: WriteOutcome): AppError | undefined {
  switch (outcome.status) {
    case 'written':
      return undefined;
    case 'quota_exceeded':
      return quotaExceeded();
    case 'no_tenant':
      return tenantGone();
  }
}
