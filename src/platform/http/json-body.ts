import express, { type Request, type RequestHandler } from 'express';
import { LosslessNumber, parse as parseLossless } from 'lossless-json';
import { nestingExceeds, numbersIn } from '../json';

interface RequestWithRawBody extends Request {
  rawBody?: Buffer;
}

/** Plain numbers where a double holds them exactly; the digits as sent where it cannot. */
function exactNumber(text: string): number | LosslessNumber {
  const n = Number(text);
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : new LosslessNumber(text);
}

/**
 * JSON bodies, parsed by express.json (fast). A body that turns out to hold an integer beyond 2^53 or a number
 * beyond a double's range, which JSON.parse has rounded, is parsed again from its raw bytes keeping those
 * numbers' digits, so that every JSON value is stored as sent. The second parser is recursive, so it is not
 * given what nests deeper than a value may (that body is refused for its depth anyway).
 */
export function jsonBody(limitBytes: number, maxValueDepth: number): RequestHandler[] {
  const parse = express.json({
    limit: limitBytes,
    verify: (req, _res, buf) => {
      (req as RequestWithRawBody).rawBody = buf;
    },
  });
  const keepExact: RequestHandler = (req, _res, next) => {
    const raw = (req as RequestWithRawBody).rawBody;
    // The body wraps each value in at most two levels: the batch's array and the item's object.
    if (raw) req.body = keepNumbersExact(req.body, () => raw.toString('utf8'), maxValueDepth + 2);
    next();
  };
  return [parse, keepExact];
}

/**
 * `parsed` (JSON.parse's result), or its text parsed again when JSON.parse has rounded a number in it: for JSON
 * read outside express.json too (an import's lines). `maxDepth`: the deepest a valid document nests.
 */
export function keepNumbersExact(parsed: unknown, text: () => string, maxDepth: number): unknown {
  if (!numbersIn(parsed).unsafe || nestingExceeds(parsed, maxDepth)) return parsed;
  return parseLossless(text(), undefined, exactNumber);
}
