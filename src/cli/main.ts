/**
 * kiln's command line: a thin client of the library. Each command lives in cli/commands/ and
 * registers itself on the program; errors print as `error: message`, the hint, and any
 * Dockerfile location, then exit non-zero.
 */
import { Command } from 'commander';
import { registerAll } from './commands/index.ts';
import { printError } from './render-error.ts';

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
async function main(): Promise<void> {
  await registerAll(program, process.argv.slice(2));
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    process.exitCode = printError(err, { debug: Boolean(program.opts().debug) });
  }
}

// Exit as soon as the command is done: a natural exit tears down the V8 heap and joins Node's
// worker threads first (~10 ms). stdout and stderr are synchronous for files, pipes and ttys on
// Linux, so nothing written is lost; every command awaits its own work.
main().then(() => process.exit());
