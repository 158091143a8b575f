import type { Request, Response } from 'express';
import type { ObjectRequest, ObjectService } from '../../service/object-service';

/** HTTP in, HTTP out for objects and quota; the rules are in ObjectService. */
export class ObjectController {
  constructor(private readonly objects: ObjectService) {}

  put = async (req: Request, res: Response): Promise<void> => {
    await this.objects.put(tenantOf(req), req.body as ObjectRequest);
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
    await this.objects.delete(tenantOf(req), req.params.key as string);
    res.status(204).end();
  };

  putBatch = async (req: Request, res: Response): Promise<void> => {
    await this.objects.putBatch(tenantOf(req), req.body as ObjectRequest[]);
    res.status(201).end();
  };

  quota = async (req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.objects.quota(tenantOf(req)));
  };
}

function tenantOf(req: Request): number {
  return (req.user as Express.User).tenantId;
}
