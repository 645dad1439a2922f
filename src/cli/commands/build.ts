/**
 * `kiln build`: `docker buildx build`'s flags over the library's build(). Parses flags into
 * BuildOptions, renders progress, prints the image ID, and writes --iidfile/--metadata-file.
 */
import type { Command } from 'commander';
import { parseCacheSpec } from '../../cache/remote/spec.ts';
import { KilnError } from '../../errors/errors.ts';
import type { StepNote } from '../../explain/explainer.ts';
import { newBuildId } from '../../explain/session.ts';
import { writeToDest } from '../../exporter/dest.ts';
import { parseIsolation } from '../../isolation/mode.ts';
import { build } from '../../pipeline/build.ts';
import type { BuildOptions, SecretSpec, SshSpec } from '../../pipeline/options.ts';
import { resolveOutputs, splitCsv } from '../../pipeline/output-spec.ts';
import { errorText, type ProgressEvent, type ProgressSink } from '../../progress/events.ts';
import { createRenderer, PROGRESS_MODES, type ProgressMode, type Renderer } from '../../progress/render.ts';
import { enterNamespace, needsNamespace, worthTryingOutside } from '../isolation.ts';
import { commandSignal } from '../signals.ts';
import { attestFlags, attestFlagValues } from './build-attest.ts';
import { callMode, runCheck } from './build-check.ts';
import { planFlags, planFlagValues } from './build-flags.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

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
  attestFlags(
    planFlags(
      program
        .command('build')
        .alias('b')
        .description('Build an image from a Dockerfile and a context (flags as in `docker buildx build`)')
        .argument('[context]', 'context directory, or - to read a tar archive from stdin'),
    ),
  )
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
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
    .option(
      '--cache-to <spec>',
      'export the build cache: type=registry,ref=REPO[,mode=max], type=local,dest=DIR, type=inline; cache-mounts=true carries RUN --mount=type=cache contents (repeatable)',
      collect,
      [],
    )
    .option(
      '--cache-from <spec>',
      'import a build cache: REPO (= type=registry,ref=REPO), type=local,src=DIR, or an image pushed with inline cache (repeatable)',
      collect,
      [],
    )
    .option('--export-cache <spec>', "buildctl's spelling of --cache-to (repeatable)", collect, [])
    .option('--import-cache <spec>', "buildctl's spelling of --cache-from (repeatable)", collect, [])
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
    .option('--explain', 'say for cache hits too which earlier build made them (misses always say why)')
    .option('--report <file>', 'write a build report: FILE.html (self-contained page) or FILE.json')
    // Image annotations (buildx's --annotation).
    .option(
      '--annotation <[type:]k=v>',
      'annotate the image: KEY=VALUE on the manifests, or index:, manifest:, manifest-descriptor:, index-descriptor:, manifest[linux/amd64]: (repeatable)',
      collect,
      [],
    )
    .option('--check', 'evaluate the build checks without building (same as --call=check)')
    .option('--call <fn>', 'what to evaluate: build (default) or check')
    .option('--squash', 'squash the layers the build adds on top of the base image into one')
    .option(
      '--isolation <mode>',
      'how RUN is isolated: oci (root), rootless (a user with subordinate ids) or chroot (an unprivileged container); default KILN_ISOLATION, else chosen',
    )
    .action(async (contextArg: string | undefined, o: Record<string, unknown>, cmd: Command) => {
      // A non-root user's build runs inside kiln's user namespace (cli/isolation.ts); one that
      // may be fully cached is tried outside it first (isolation/outside.ts).
      const outside = needsNamespace(o.isolation as string | undefined);
      const { attest, context } = attestFlagValues(o, contextArg);
      const call = callMode(o);
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
      const planned = planFlagValues(o);
      const buildArgs = planned.buildArgs;
      const render = () =>
        createRenderer(mode, process.stderr, { debug: Boolean(cmd.optsWithGlobals().debug) });
      // Outside the namespace the progress is held until the build is known to succeed there.
      const held: ProgressEvent[] = [];
      let renderer = outside ? undefined : render();
      const sink: ProgressSink = (e) => (renderer ? renderer.sink(e) : held.push(e));
      const signal = commandSignal();
      const opts: BuildOptions = {
        context,
        ...planned,
        tags,
        outputs: resolveOutputs(
          o.output as string[],
          tags,
          Boolean(o.push),
          Boolean(o.load),
          o.annotation as string[],
        ),
        noCache: o.cache === false,
        noCacheFilter: (o.cacheFilter as string[] | undefined) ?? [],
        cacheTo: [...(o.cacheTo as string[]), ...(o.exportCache as string[])].map((v) =>
          parseCacheSpec(v, 'to'),
        ),
        cacheFrom: [...(o.cacheFrom as string[]), ...(o.importCache as string[])].map((v) =>
          parseCacheSpec(v, 'from'),
        ),
        pull: Boolean(o.pull),
        secrets: (o.secret as string[]).map(parseSecret),
        ssh: (o.ssh as string[]).map(parseSsh),
        network: network as BuildOptions['network'],
        isolation:
          o.isolation === undefined ? undefined : parseIsolation(o.isolation as string, '--isolation'),
        allow: o.allow as string[],
        parallelism: Number.parseInt(o.parallelism as string, 10) || 4,
        explain: Boolean(o.explain),
        // Chosen here so that --report can find a failed build too.
        buildId: newBuildId(),
        progress: sink,
        signal,
        sourceDateEpoch: buildArgs.SOURCE_DATE_EPOCH
          ? Number.parseInt(buildArgs.SOURCE_DATE_EPOCH, 10)
          : undefined,
        squash: Boolean(o.squash),
        attest,
      };
      const root = cmd.optsWithGlobals().root as string | undefined;
      if (outside && (call === 'check' || !worthTryingOutside(opts))) return enterNamespace();
      let tried: Awaited<ReturnType<typeof build>> | undefined;
      if (outside) {
        // Stopped when it fails: what other branches of the attempt still do is wasted.
        const attempt = new AbortController();
        try {
          tried = await build(
            { ...opts, signal: AbortSignal.any([signal, attempt.signal]) },
            { root, outsideNamespace: true },
          );
        } catch (err) {
          if (signal.aborted) throw err;
          attempt.abort();
          // NAMESPACE_NEEDED, or anything else outside: the build inside says what it says.
          return enterNamespace();
        }
        renderer = render();
        for (const e of held.splice(0)) renderer.sink(e);
      }
      const shown = renderer as Renderer;
      if (call === 'check') {
        await runCheck(opts, root, () => shown.close());
        return;
      }
      try {
        const result = tried ?? (await build(opts, { root }));
        shown.close();
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
          Object.assign(meta, explainMetadata(result));
          await small(
            o.metadataFile as string,
            'the build metadata (--metadata-file)',
            `${JSON.stringify(meta, null, 2)}\n`,
          );
        }
        if (o.report) await writeReportFile(cmd, o.report as string, result.buildId, signal);
        const toStdout = opts.outputs.some((s) => s.dest === '-');
        if (!toStdout && result.imageId) process.stdout.write(`${result.imageId}\n`);
      } catch (err) {
        shown.close();
        if (o.report && opts.buildId)
          await writeReportFile(cmd, o.report as string, opts.buildId, signal).catch(() => undefined);
        // The progress shown has the failed step's output: the error need not repeat it.
        if (mode !== 'quiet' && err instanceof Error) err.message = errorText(err);
        throw err;
      }
    });
}

/** `--report FILE`: the build's report, HTML or JSON by the file's extension (explain/report.ts). */
async function writeReportFile(cmd: Command, file: string, buildId: string, signal: AbortSignal) {
  const { renderReport } = await import('../../explain/report.ts');
  const { openStore } = await import('../../store/store.ts');
  const store = openStore(cmd.optsWithGlobals().root as string | undefined);
  try {
    const text = await renderReport(store, buildId, file.endsWith('.json') ? 'json' : 'html');
    await writeToDest(file, text, {
      stdout: process.stdout,
      signal,
      what: 'the build report (--report)',
      hint: 'pass the path of a file to create or replace',
    });
  } finally {
    store.close();
  }
}

/** What --metadata-file says of the cache: the build's history id, each step's hit or miss and why. */
function explainMetadata(result: { buildId: string; explained: StepNote[] }): Record<string, unknown> {
  return {
    'kiln.build.ref': result.buildId,
    'kiln.cache': result.explained.map((n) => ({
      step: n.name,
      cached: n.cached,
      ...(n.reason ? { reason: n.reason } : {}),
      ...(n.origin ? { from: n.origin.build } : {}),
    })),
  };
}
