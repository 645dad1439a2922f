/**
 * kiln's command line: a thin client of the library. Each command lives in cli/commands/ and
 * registers itself on the program; errors print as `error: message`, the hint, and any
 * Dockerfile location, then exit non-zero.
 */
import { Command } from 'commander';
import { commandWord, registerAll } from './commands/index.ts';
import { reexecIfRootless, SNAPSHOT_COMMANDS } from './isolation.ts';
import { printError } from './render-error.ts';
import { commandFinished, installSignalHandlers, signalExitCode } from './signals.ts';

const program = new Command('kiln')
  .description('Build OCI container images from Dockerfiles, without Docker.')
  .version('0.1.0')
  .option(
    '--root <dir>',
    'state directory (default /var/lib/kiln for root, $XDG_DATA_HOME/kiln otherwise; env KILN_ROOT)',
  )
  .option('--debug', 'print stack traces on errors')
  .showHelpAfterError()
  .enablePositionalOptions();

// No top-level await: the bundle is CommonJS (see scripts/bundle.ts).
async function main(): Promise<number> {
  installSignalHandlers();
  // A reader that exits early (`kiln images | head -1`) makes stdout fail with EPIPE: without a
  // listener that is an uncaught exception and a stack trace. Commands that stream to stdout see
  // the error themselves (OUTPUT_CLOSED); anything else just ends quietly with 141, as SIGPIPE would.
  let stdoutError: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    stdoutError ??= err;
  });
  let code = 0;
  await registerAll(program, process.argv.slice(2));
  try {
    // A rootless user's prune or fsck reaches snapshot files only inside kiln's user namespace.
    const word = commandWord(process.argv.slice(2));
    if (word && SNAPSHOT_COMMANDS.has(word) && (await reexecIfRootless())) return process.exitCode as number;
    await program.parseAsync(process.argv);
  } catch (err) {
    code = printError(err, { debug: Boolean(program.opts().debug) });
  }
  commandFinished();
  if (signalExitCode() !== undefined) return signalExitCode()!;
  if (code === 0 && stdoutError) return stdoutError.code === 'EPIPE' ? 141 : 1;
  // A command may end with another status without an error (`kiln run`: the command's own).
  if (code === 0 && typeof process.exitCode === 'number') return process.exitCode;
  return code;
}

/** Resolve once everything written to `s` has left the process (or it can take no more). */
function flushed(s: NodeJS.WriteStream): Promise<void> {
  if (s.destroyed || s.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => s.write(Buffer.alloc(0), () => resolve()));
}

// Exit as soon as the command is done (a natural exit tears down the V8 heap and joins Node's
// worker threads first, ~10 ms), but not before stdout and stderr have drained: on Linux a pipe
// is written asynchronously, and exiting with bytes queued cut `kiln image save | docker load`
// short.
main().then(async (code) => {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
});
