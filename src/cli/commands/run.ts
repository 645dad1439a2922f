/**
 * `kiln run [options] CTR -- CMD [ARG…]`: run a command in a working container, as buildah run:
 * stdin passes through, and kiln exits with the command's status.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import type { NetworkMode } from '../../executor/executor.ts';
import type { RunMountSpec } from '../../executor/run-mounts.ts';
import { withContainers } from './from.ts';

const collect = (v: string, acc: string[]) => [...acc, v];

function mountError(text: string, why: string): KilnError {
  return new KilnError('MOUNT_INVALID', `invalid --mount "${text}": ${why}`, {
    hint: 'write type=bind,src=HOST-PATH,target=PATH[,ro], type=cache,target=PATH[,id=ID] or type=tmpfs,target=PATH',
  });
}

/** `--mount` in RUN --mount's syntax; bind sources are host paths here, as in buildah run. */
export function parseMount(text: string): RunMountSpec {
  const kv: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    kv[(eq < 0 ? part : part.slice(0, eq)).toLowerCase()] = eq < 0 ? 'true' : part.slice(eq + 1);
  }
  const target = kv.target ?? kv.dst ?? kv.destination;
  if (!target) throw mountError(text, 'no target');
  const readonly = kv.rw === 'true' ? false : kv.ro === 'true' || kv.readonly === 'true' ? true : undefined;
  const num = (k: string, base = 10) => (kv[k] === undefined ? undefined : Number.parseInt(kv[k], base));
  switch (kv.type ?? 'bind') {
    case 'bind': {
      const source = kv.source ?? kv.src;
      if (!source) throw mountError(text, 'a bind mount needs src=');
      return { type: 'bind', root: '/', source, target, readonly: readonly ?? false };
    }
    case 'cache':
      return {
        type: 'cache',
        target,
        id: kv.id,
        sharing: (kv.sharing as 'shared' | 'locked' | 'private' | undefined) ?? 'shared',
        readonly,
        uid: num('uid'),
        gid: num('gid'),
        mode: num('mode', 8),
      };
    case 'tmpfs':
      return { type: 'tmpfs', target, size: num('size') };
    default:
      throw mountError(text, `type "${kv.type}" is not one kiln run mounts (bind, cache, tmpfs)`);
  }
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run a command in a working container (exits with its status)')
    .argument('<container>', 'container name or ID')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('--workingdir <dir>', 'working directory of the command')
    .option('--user <user[:group]>', 'user (and group) to run as')
    .option(
      '--mount <spec>',
      "a mount in RUN --mount's syntax (repeatable; bind src= is a host path)",
      collect,
      [],
    )
    .option('--network <mode>', 'default, none or host', 'default')
    .option('-v, --volume <host:ctr[:ro]>', 'bind-mount a host directory (repeatable)', collect, [])
    .option('-t, --tty', 'allocate a terminal (not supported: stdio are pipes)')
    .passThroughOptions()
    .action(async (ref: string, args: string[], opts, c: Command) => {
      const argv = args[0] === '--' ? args.slice(1) : args;
      if (opts.tty) {
        throw new KilnError('RUN_TTY_UNSUPPORTED', 'kiln run cannot give the command a terminal yet', {
          hint: 'leave out --tty; stdin, stdout and stderr still pass through',
        });
      }
      if (!['default', 'none', 'host'].includes(opts.network)) {
        throw new KilnError('NETWORK_INVALID', `invalid --network "${opts.network}"`, {
          hint: 'use default, none or host',
        });
      }
      const code = await withContainers(c, async (w) =>
        (await w.get(ref)).run(argv, {
          env: opts.env,
          workingDir: opts.workingdir,
          user: opts.user,
          mounts: (opts.mount as string[]).map(parseMount),
          network: opts.network as NetworkMode,
          volumes: opts.volume,
          stdin: process.stdin.isTTY ? undefined : process.stdin,
        }),
      );
      process.exitCode = code;
    });
}
