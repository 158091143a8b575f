import { CommanderError } from 'commander';
import {
  ERROR_CLASSES,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  PreconditionFailedError,
  QuotaExceededError,
  RateLimitedError,
  TenantKvError,
  UnauthorizedError,
  UnavailableError,
  type ErrorBody,
} from '@tenantkv/client';

/** The exit codes `tenantkv` documents (README.md, `tenantkv --help`); scripts switch on them. */
export const EXIT = {
  ok: 0,
  /** Bad usage, and any failure without a code of its own. */
  usage: 1,
  notFound: 2,
  preconditionFailed: 3,
  quotaExceeded: 4,
  auth: 5,
  unavailable: 6,
} as const;

/** A failure of the command line's own, with the exit code it ends the command with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

/** A mistake in how the command was called: exit 1, with the message. */
export class UsageError extends CliError {}

/** A wrong password is the service's 400 INVALID_CREDENTIALS, but for a script it is an authentication failure. */
const AUTH_CODES = new Set(['INVALID_CREDENTIALS']);

/** The one mapping from what went wrong to an exit code. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (!(err instanceof TenantKvError)) return EXIT.usage;
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof PreconditionFailedError) return EXIT.preconditionFailed;
  if (err instanceof QuotaExceededError) return EXIT.quotaExceeded;
  if (err instanceof UnauthorizedError || err instanceof ForbiddenError || AUTH_CODES.has(err.code)) return EXIT.auth;
  if (err instanceof NetworkError || err instanceof UnavailableError || err instanceof RateLimitedError) {
    return EXIT.unavailable;
  }
  return EXIT.usage;
}

/** The exit code of a service code met outside an error answer (an import report's `stopped.code`). */
export function exitCodeOfServiceCode(code: string): number {
  const Class = (ERROR_CLASSES as Record<string, new (body: ErrorBody) => TenantKvError>)[code] ?? TenantKvError;
  return exitCodeOf(new Class({ message: code, status_code: 0, code }));
}

/** The line printed on stderr: the service's message and code, or what else went wrong. */
export function describeFailure(err: unknown): string {
  if (err instanceof PreconditionFailedError) {
    const now = err.failed.length
      ? err.failed.map((f) => `${f.key}: ${f.current_version ?? 'absent'}`).join(', ')
      : err.currentVersion === null
        ? 'the key is absent'
        : `the current version is ${err.currentVersion}`;
    return `${err.message} (${err.code}; ${now})`;
  }
  if (err instanceof NetworkError) {
    const cause = err.cause as { cause?: { code?: string; message?: string } } | undefined;
    const why = cause?.cause?.code ?? cause?.cause?.message;
    return `the service cannot be reached: ${err.message}${why ? ` (${why})` : ''}`;
  }
  if ((err instanceof RateLimitedError || err instanceof UnavailableError) && err.retryAfter !== undefined) {
    return `${err.message} (${err.code}; retry after ${err.retryAfter} s)`;
  }
  if (err instanceof TenantKvError) return `${err.message} (${err.code})`;
  if (err instanceof Error) return err.message;
  return String(err);
}
