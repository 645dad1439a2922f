/**
 * The flags that decide what a build plans (`-f`, `--build-arg`, `--build-context`, `--target`,
 * `--platform`, `--label` and the RUN-environment flags, each part of a RUN's identity),
 * declared and parsed once: `kiln build` and `kiln debug graph` take them alike, so the graph
 * the second prints is the one the first solves.
 */
import type { Command } from 'commander';
import { hasCode, KilnError } from '../../errors/errors.ts';
import { type Platform, parsePlatform } from '../../oci/platform.ts';
import type { BuildOptions, FrontendName } from '../../pipeline/options.ts';
import { checkCgroupParent, parseAddHost, parseShmSize, parseUlimit } from '../../pipeline/run-settings.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

/** `NAME=VALUE` pairs; a bare `NAME` takes the environment's value (`fromEnv`, dropped if unset) or ''. */
export function keyValues(list: readonly string[], what: string, fromEnv = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0)
      throw new KilnError('INVALID_FLAG', `invalid ${what} "${item}": empty name`, {
        hint: `use ${what} NAME=VALUE`,
      });
    if (eq < 0) {
      // docker: `--build-arg NAME` takes the value from the environment, if set.
      if (fromEnv && process.env[item] !== undefined) out[item] = process.env[item] as string;
      else if (!fromEnv) out[item] = '';
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/**
 * `--build-arg` values, and SOURCE_DATE_EPOCH and BUILDKIT_DOCKERFILE_CHECK from the environment
 * as buildx passes them.
 */
export function parseBuildArgs(list: readonly string[]): Record<string, string> {
  const args = keyValues(list, '--build-arg', true);
  if (process.env.SOURCE_DATE_EPOCH && args.SOURCE_DATE_EPOCH === undefined) {
    args.SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH;
  }
  // …and the check options, as BuildKit reads them from the build arg of that name.
  if (process.env.BUILDKIT_DOCKERFILE_CHECK && args.BUILDKIT_DOCKERFILE_CHECK === undefined) {
    args.BUILDKIT_DOCKERFILE_CHECK = process.env.BUILDKIT_DOCKERFILE_CHECK;
  }
  return args;
}

/** `--build-context NAME=VALUE` values; a name without a value names nothing to build from. */
export function parseBuildContexts(list: readonly string[]): Record<string, string> {
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq > 0 && eq < item.length - 1) continue;
    throw new KilnError('INVALID_FLAG', `invalid --build-context "${item}"`, {
      hint: 'write --build-context NAME=DIR or NAME=docker-image://REF',
    });
  }
  return keyValues(list, '--build-context');
}

/** `--platform` values, comma separated; the error names the flag, since nothing else locates it. */
export function parsePlatforms(list: string | undefined): Platform[] {
  if (!list) return [];
  return list.split(',').map((spec) => {
    try {
      return parsePlatform(spec);
    } catch (err) {
      if (!hasCode(err, 'INVALID_PLATFORM')) throw err;
      const hint = (err as KilnError).hint;
      throw new KilnError('INVALID_PLATFORM', `invalid --platform value "${spec}"`, { hint, cause: err });
    }
  });
}

/** Declare the planning flags on a command (read back with `planFlagValues`). */
export function planFlags(cmd: Command): Command {
  return (
    cmd
      .option('-f, --file <path>', 'Dockerfile path (default: CONTEXT/Dockerfile; - reads stdin)')
      .option(
        '--frontend <name>',
        'what -f is: dockerfile, yaml, graph, or gateway (an image that prints the graph: --opt source=IMAGE); default: yaml for .yaml/.yml, else dockerfile',
      )
      .option(
        '--opt <key=value>',
        'a frontend option: source=IMAGE and timeout=SECONDS for --frontend gateway (repeatable)',
        collect,
        [],
      )
      .option(
        '--graph <file>',
        'build a graph definition in JSON (what `kiln debug graph` prints; - reads stdin)',
      )
      .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [])
      .option(
        '--build-context <name=value>',
        'an extra named context: DIR, docker-image://REF, oci-layout://DIR[:TAG|@DIGEST], a git or https URL (repeatable)',
        collect,
        [],
      )
      .option('--label <k=v>', 'set an image label (repeatable)', collect, [])
      .option('--target <stage>', 'build this stage')
      .option('--platform <list>', 'target platforms, comma separated (e.g. linux/amd64,linux/arm64)')
      // RUN-environment flags (buildx's), kept together.
      .option(
        '--add-host <host:ip>',
        'add an /etc/hosts line in RUN steps; ip may be host-gateway (repeatable)',
        collect,
        [],
      )
      .option('--shm-size <size>', 'size of /dev/shm in RUN steps, e.g. 2g (default 64m)')
      .option(
        '--ulimit <type=soft[:hard]>',
        'a resource limit for RUN steps, e.g. nofile=1024:2048 (repeatable)',
        collect,
        [],
      )
      .option('--cgroup-parent <path>', 'the cgroup RUN containers are created under')
  );
}

/** What the planning flags say, as build options. */
export function planFlagValues(
  o: Record<string, unknown>,
): Pick<
  BuildOptions,
  | 'dockerfile'
  | 'frontend'
  | 'frontendOpts'
  | 'buildArgs'
  | 'buildContexts'
  | 'labels'
  | 'target'
  | 'platforms'
  | 'extraHosts'
  | 'shmSize'
  | 'ulimits'
  | 'cgroupParent'
> {
  const { frontend, file } = frontendFlags(o);
  return {
    dockerfile: file,
    frontend,
    frontendOpts: keyValues(o.opt as string[], '--opt'),
    buildArgs: parseBuildArgs(o.buildArg as string[]),
    buildContexts: parseBuildContexts(o.buildContext as string[]),
    labels: keyValues(o.label as string[], '--label'),
    target: o.target as string | undefined,
    platforms: parsePlatforms(o.platform as string | undefined),
    // RUN-environment flags.
    extraHosts: (o.addHost as string[]).flatMap(parseAddHost),
    shmSize: o.shmSize === undefined ? undefined : parseShmSize(o.shmSize as string),
    ulimits: (o.ulimit as string[]).map(parseUlimit),
    cgroupParent: o.cgroupParent === undefined ? undefined : checkCgroupParent(o.cgroupParent as string),
  };
}

const FRONTENDS: FrontendName[] = ['dockerfile', 'yaml', 'graph', 'gateway'];

/** `--graph FILE` is `--frontend graph -f FILE`; `--frontend` names what -f is. */
function frontendFlags(o: Record<string, unknown>): { frontend?: FrontendName; file?: string } {
  const file = o.file as string | undefined;
  const graph = o.graph as string | undefined;
  const frontend = o.frontend as string | undefined;
  if (frontend !== undefined && !FRONTENDS.includes(frontend as FrontendName)) {
    throw new KilnError('INVALID_FLAG', `unknown --frontend "${frontend}"`, {
      hint: `use ${FRONTENDS.join(', ')}`,
    });
  }
  if (graph === undefined) return { frontend: frontend as FrontendName | undefined, file };
  if (file !== undefined || (frontend !== undefined && frontend !== 'graph')) {
    throw new KilnError(
      'INVALID_FLAG',
      '--graph names the build file: it cannot be used with -f or another --frontend',
      {
        hint: 'use --graph FILE alone, or --frontend graph -f FILE',
      },
    );
  }
  return { frontend: 'graph', file: graph };
}
