/**
 * The CLI's commands, loaded on demand: each module exports `register(program)`, and only the
 * module of the command being run is imported (with its part of the library), so `kiln images`
 * does not pay for loading the build engine. Help without a command loads them all.
 */
import type { Command } from 'commander';

type Loader = () => Promise<{ register(program: Command): void }>;

/** Command name (and aliases) → the modules that register it. */
const COMMANDS: Record<string, Loader[]> = {
  build: [() => import('./build.ts')],
  builder: [() => import('./builder.ts')],
  images: [() => import('./images.ts')],
  image: [() => import('./image.ts')],
  tag: [() => import('./tag.ts')],
  rmi: [() => import('./rmi.ts')],
  prune: [() => import('./prune.ts')],
  du: [() => import('./du.ts')],
  fsck: [() => import('./fsck.ts')],
  debug: [() => import('./debug-dockerfile.ts'), () => import('./debug-graph.ts')],
  pull: [() => import('./pull.ts')],
  push: [() => import('./push.ts')],
  login: [() => import('./login.ts')],
  logout: [() => import('./logout.ts')],
  manifest: [() => import('./manifest.ts')],
  serve: [() => import('./serve.ts')],
  system: [() => import('./system.ts')],
  version: [() => import('./version.ts')],
  from: [() => import('./from.ts')],
  containers: [() => import('./containers.ts')],
  run: [() => import('./run.ts')],
  copy: [() => import('./copy.ts')],
  add: [() => import('./copy.ts')],
  config: [() => import('./config.ts')],
  mount: [() => import('./mount.ts')],
  umount: [() => import('./mount.ts')],
  commit: [() => import('./commit.ts')],
  rm: [() => import('./rm.ts')],
  inspect: [() => import('./inspect.ts')],
  unshare: [() => import('./unshare.ts')],
  history: [() => import('./history.ts')],
  report: [() => import('./history.ts')],
};
const ALIASES: Record<string, string> = { b: 'build', ps: 'containers', unmount: 'umount' };

/** Global options that take a value, so the command word can be found after them. */
const VALUE_OPTIONS = new Set(['--root']);

export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return ALIASES[a] ?? a;
  }
  return undefined;
}

/** Register the command `argv` names, or every command when it names none we know. */
export async function registerAll(program: Command, argv: readonly string[] = []): Promise<void> {
  const word = commandWord(argv);
  const loaders = word && COMMANDS[word] ? COMMANDS[word] : Object.values(COMMANDS).flat();
  // A module may serve several words (copy and add): registered once.
  for (const mod of new Set(await Promise.all(loaders.map((load) => load())))) mod.register(program);
}
