/**
 * `kiln build`: `docker buildx build`'s flags over the library's build(). Parses flags into
 * BuildOptions, renders progress, prints the image ID, and writes --iidfile/--metadata-file.
 */
import type { Command } from 'commander';
import { build } from '../../build/build.ts';
import type { BuildOptions, SecretSpec, SshSpec } from '../../build/options.ts';
import { resolveOutputs, splitCsv } from '../../build/output-spec.ts';
import { checkCgroupParent, parseAddHost, parseShmSize, parseUlimit } from '../../build/run-settings.ts';
import { hasCode, KilnError } from '../../errors/errors.ts';
import { writeToDest } from '../../exporter/dest.ts';
import { parseIsolation } from '../../isolation/mode.ts';
import { parsePlatform } from '../../oci/platform.ts';
import { errorText } from '../../progress/events.ts';
import { createRenderer, PROGRESS_MODES, type ProgressMode } from '../../progress/render.ts';
import { reexecIfRootless } from '../isolation.ts';
import { commandSignal } from '../signals.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

function keyValues(list: string[], what: string, fromEnv = false): Record<string, string> {
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

export function parseSecret(text: string): SecretSpec {
  const spec: SecretSpec = { id: '' };
  for (const part of splitCsv(text)) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    if (k === 'id') spec.id = v;
    else if (k === 'src' || k === 'source') spec.src = v;
    else if (k === 'env') spec.env = v;
    else if (k === 'type') {
      if (v !== 'file' && v !== 'env')
        throw new KilnError('INVALID_FLAG', `--secret type must be file or env, got "${v}"`);
    } else
      throw new KilnError('INVALID_FLAG', `unknown --secret field "${k}"`, {
        hint: 'use --secret id=NAME,src=FILE or id=NAME,env=VAR',
      });
  }
  if (!spec.id) spec.id = spec.env ?? (spec.src ? spec.src.split('/').pop()! : '');
  if (!spec.id)
    throw new KilnError('INVALID_FLAG', `--secret ${text} has no id`, {
      hint: 'use --secret id=NAME,src=FILE',
    });
  return spec;
}

export function parseSsh(text: string): SshSpec {
  const eq = text.indexOf('=');
  if (eq < 0) return { id: text, paths: [] };
  return {
    id: text.slice(0, eq),
    paths: text
      .slice(eq + 1)
      .split(',')
      .filter(Boolean),
  };
}

export function register(program: Command): void {
  program
    .command('build')
    .alias('b')
    .description('Build an image from a Dockerfile and a context (flags as in `docker buildx build`)')
    .argument('<context>', 'context directory, or - to read a tar archive from stdin')
    .option('-f, --file <path>', 'Dockerfile path (default: CONTEXT/Dockerfile; - reads stdin)')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
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
    .option(
      '-o, --output <spec>',
      'output: type=image|registry|oci|docker|local|tar,… (repeatable)',
      collect,
      [],
    )
    .option('--push', 'shorthand for --output=type=registry')
    .option(
      '--load',
      'into the Docker Engine (DOCKER_HOST or /var/run/docker.sock) if one answers, else the kiln image store',
    )
    .option('--no-cache', 'do not use the instruction cache')
    .option('--no-cache-filter <stage>', 'do not use the cache for these stages (repeatable)', collect, [])
    .option('--pull', 'always look for newer base images in their registries')
    .option(
      '--secret <spec>',
      'expose a secret: id=NAME,src=FILE or id=NAME,env=VAR (repeatable)',
      collect,
      [],
    )
    .option('--ssh <spec>', 'forward an ssh agent: default or ID=SOCKET (repeatable)', collect, [])
    .option('--network <mode>', 'network for RUN: default, none or host', 'default')
    .option(
      '--allow <entitlement>',
      'grant network.host or security.insecure to RUN steps that ask (repeatable)',
      collect,
      [],
    )
    .option(
      '--progress <mode>',
      "auto, plain, tty, rawjson (BuildKit's JSON), kiln-json (kiln's events) or quiet",
      'auto',
    )
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to a file')
    .option('--metadata-file <file>', 'write build result metadata (JSON) to a file')
    .option('--parallelism <n>', 'steps run at once', '4')
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
    // Image annotations (buildx's --annotation).
    .option(
      '--annotation <[type:]k=v>',
      'annotate the image: KEY=VALUE on the manifests, or index:, manifest:, manifest-descriptor:, index-descriptor:, manifest[linux/amd64]: (repeatable)',
      collect,
      [],
    )
    .option(
      '--isolation <mode>',
      'how RUN is isolated: oci (root), rootless (a user with subordinate ids) or chroot (an unprivileged container); default KILN_ISOLATION, else chosen',
    )
    .action(async (context: string, o: Record<string, unknown>, cmd: Command) => {
      // A non-root user's build runs again inside kiln's user namespace (cli/isolation.ts).
      if (await reexecIfRootless(o.isolation as string | undefined)) return;
      const network = o.network as string;
      if (!['default', 'none', 'host'].includes(network)) {
        throw new KilnError('INVALID_FLAG', `unknown --network "${network}"`, {
          hint: 'use default, none or host',
        });
      }
      const mode = (o.quiet ? 'quiet' : o.progress) as ProgressMode;
      if (!PROGRESS_MODES.includes(mode)) {
        throw new KilnError('INVALID_FLAG', `unknown --progress "${mode}"`, {
          hint: `use ${PROGRESS_MODES.join(', ')}`,
        });
      }
      for (const e of o.allow as string[]) {
        if (e !== 'network.host' && e !== 'security.insecure') {
          throw new KilnError('INVALID_FLAG', `unknown entitlement "${e}" in --allow`, {
            hint: 'use network.host or security.insecure',
          });
        }
      }
      const tags = o.tag as string[];
      const buildArgs = keyValues(o.buildArg as string[], '--build-arg', true);
      // buildx passes SOURCE_DATE_EPOCH from the environment as a build arg.
      if (process.env.SOURCE_DATE_EPOCH && buildArgs.SOURCE_DATE_EPOCH === undefined) {
        buildArgs.SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH;
      }
      const renderer = createRenderer(mode, process.stderr, {
        debug: Boolean(cmd.optsWithGlobals().debug),
      });
      const signal = commandSignal();
      const opts: BuildOptions = {
        context,
        dockerfile: o.file as string | undefined,
        tags,
        buildArgs,
        labels: keyValues(o.label as string[], '--label'),
        buildContexts: keyValues(o.buildContext as string[], '--build-context'),
        target: o.target as string | undefined,
        platforms: o.platform ? (o.platform as string).split(',').map(platformFlag) : [],
        outputs: resolveOutputs(
          o.output as string[],
          tags,
          Boolean(o.push),
          Boolean(o.load),
          o.annotation as string[],
        ),
        noCache: o.cache === false,
        noCacheFilter: (o.cacheFilter as string[] | undefined) ?? [],
        pull: Boolean(o.pull),
        secrets: (o.secret as string[]).map(parseSecret),
        ssh: (o.ssh as string[]).map(parseSsh),
        network: network as BuildOptions['network'],
        isolation:
          o.isolation === undefined ? undefined : parseIsolation(o.isolation as string, '--isolation'),
        allow: o.allow as string[],
        parallelism: Number.parseInt(o.parallelism as string, 10) || 4,
        progress: renderer.sink,
        signal,
        sourceDateEpoch: buildArgs.SOURCE_DATE_EPOCH
          ? Number.parseInt(buildArgs.SOURCE_DATE_EPOCH, 10)
          : undefined,
        // RUN-environment flags.
        extraHosts: (o.addHost as string[]).flatMap(parseAddHost),
        shmSize: o.shmSize === undefined ? undefined : parseShmSize(o.shmSize as string),
        ulimits: (o.ulimit as string[]).map(parseUlimit),
        cgroupParent: o.cgroupParent === undefined ? undefined : checkCgroupParent(o.cgroupParent as string),
      };
      try {
        const result = await build(opts, { root: cmd.optsWithGlobals().root as string | undefined });
        renderer.close();
        // Only image outputs have an image ID (buildx reports none for type=local or type=tar).
        // Written as outputs are: atomically to a file, streamed into a FIFO or device.
        const small = (dest: string, what: string, text: string) =>
          writeToDest(dest, text, {
            stdout: process.stdout,
            signal,
            what,
            hint: `pass the path of a file to create or replace`,
          });
        if (o.iidfile && result.imageId)
          await small(o.iidfile as string, 'the image ID (--iidfile)', result.imageId);
        if (o.metadataFile) {
          const meta = result.root
            ? {
                'containerimage.digest': result.root.digest,
                'containerimage.config.digest':
                  result.platforms.length === 1 ? result.platforms[0].configDigest : undefined,
                'containerimage.descriptor': result.root,
                'image.name': tags.join(','),
              }
            : {};
          await small(
            o.metadataFile as string,
            'the build metadata (--metadata-file)',
            `${JSON.stringify(meta, null, 2)}\n`,
          );
        }
        const toStdout = opts.outputs.some((s) => s.dest === '-');
        if (!toStdout && result.imageId) process.stdout.write(`${result.imageId}\n`);
      } catch (err) {
        renderer.close();
        // The progress shown has the failed step's output: the error need not repeat it.
        if (mode !== 'quiet' && err instanceof Error) err.message = errorText(err);
        throw err;
      }
    });
}

/** One --platform value; the error names the flag, since nothing else locates it. */
function platformFlag(spec: string) {
  try {
    return parsePlatform(spec);
  } catch (err) {
    if (!hasCode(err, 'INVALID_PLATFORM')) throw err;
    const hint = (err as KilnError).hint;
    throw new KilnError('INVALID_PLATFORM', `invalid --platform value "${spec}"`, { hint, cause: err });
  }
}
