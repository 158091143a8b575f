import type { Request, RequestHandler, Response } from 'express';
import { busy, type AppError } from '../errors';

/** Set on a response that the budget has answered: whatever the handler does later is dropped. */
export const BUDGET_SPENT = 'tenantkv.budgetSpent';

/**
 * A total time budget per request: every wait below is bounded (a pooled connection, a row lock, the conflict
 * retries), and this is the bound of their sum. A request not answered within `ms` is answered 503 BUSY with
 * Retry-After, through `answer` (the app's error rendering); the work it started runs to its own bounded end, its
 * result unsent.
 */
export function requestBudget(
  ms: number,
  answer: (req: Request, res: Response, error: AppError) => void,
): RequestHandler {
  return (req, res, next) => {
    const timer = setTimeout(() => {
      if (res.headersSent || res.writableEnded) return;
      res.locals[BUDGET_SPENT] = true;
      answer(req, res, busy(`no answer within the request budget of ${ms} ms; retry shortly`));
    }, ms);
    const clear = (): void => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}

export function budgetSpent(res: Response): boolean {
  return res.locals[BUDGET_SPENT] === true;
}
