/**
 * `kiln unshare [COMMAND…]`: a shell (or COMMAND) inside the user namespace rootless builds run
 * in (as `buildah unshare`): root there, the subordinate ids as 1..N, the same state root; for
 * looking at or removing snapshot files the user does not own on the host.
 */
import type { Command } from 'commander';
import { inOwnUserNamespace } from '../../isolation/mode.ts';
import { runInUserNamespace } from '../../isolation/userns.ts';
import { resolveRoot } from '../../store/root.ts';

export function register(program: Command): void {
  program
    .command('unshare')
    .description("Run a command (default: $SHELL) in rootless kiln's user namespace")
    .argument('[command...]', 'the command and its arguments')
    .passThroughOptions()
    .action(async (command: string[], _o: unknown, cmd: Command) => {
      const argv = command.length ? command : [process.env.SHELL || '/bin/sh'];
      if (inOwnUserNamespace()) {
        const { spawnSync } = await import('node:child_process');
        process.exitCode = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' }).status ?? 1;
        return;
      }
      const root = resolveRoot(cmd.optsWithGlobals().root as string | undefined);
      process.exitCode = await runInUserNamespace(argv, { KILN_ROOT: root, KILN_ISOLATION: 'rootless' });
    });
}
