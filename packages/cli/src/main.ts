#!/usr/bin/env node
import { CommanderError } from 'commander';
import { describeFailure, exitCodeOf } from './failure';
import { buildProgram } from './program';

async function main(): Promise<number> {
  try {
    await buildProgram().parseAsync(process.argv);
    return 0;
  } catch (err) {
    // Commander has printed its own usage errors (and the help) already.
    if (!(err instanceof CommanderError)) process.stderr.write(`error: ${describeFailure(err)}\n`);
    return exitCodeOf(err);
  }
}

void main().then((code) => {
  // Not process.exit(): stdout may still be draining into a pipe. Idle keep-alive sockets do not hold the process.
  process.exitCode = code;
});
