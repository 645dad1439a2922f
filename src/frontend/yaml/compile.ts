/**
 * kiln YAML → the Dockerfile frontend's typed instructions, one stage per image, in a fixed
 * order per image: args, env, labels, workdir, packages, external downloads, copies, runs, user,
 * expose, entrypoint, cmd. The Dockerfile converter then makes the graph, so a YAML image and
 * the Dockerfile with the same steps give the same graph and image config. Instructions are
 * built as values, never as Dockerfile text, so nothing in a YAML value can become an
 * instruction or a flag; each carries the file:line:column of the YAML it came from.
 */
import { KilnError, type SourceLocation } from '../../errors/errors.ts';
import { parseMounts } from '../dockerfile/instructions/runmount.ts';
import type {
  AddCommand,
  ArgCommand,
  CmdCommand,
  CopyCommand,
  DockerfileInstructions,
  EntrypointCommand,
  EnvCommand,
  ExposeCommand,
  FromCommand,
  Instruction,
  KeyValuePair,
  LabelCommand,
  RunCommand,
  Stage,
  UserCommand,
  WorkdirCommand,
} from '../dockerfile/instructions/types.ts';
import type { ParsedYaml, YamlPath } from './parse.ts';
import type { External, ImageSpec, Scalar } from './schema.ts';

/** Stage names kiln makes for downloads (`kiln-external-N`); images may not take them. */
const RESERVED = /^kiln-/;

/** Caches of the package managers: mounted while installing, so they stay out of the layer. */
const PACKAGE_CACHES = ['/var/cache/apt', '/var/lib/apt/lists', '/var/cache/apk', '/var/cache/dnf'];

/**
 * One layer that installs packages with whatever manager the base image has (looked for when
 * the step runs, in the image's own rootfs): apk, apt-get or dnf.
 */
export function packageScript(pkgs: readonly string[]): string {
  const list = pkgs.join(' ');
  return [
    `if command -v apk >/dev/null 2>&1; then apk add ${list}`,
    `elif command -v apt-get >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${list}`,
    `elif command -v dnf >/dev/null 2>&1; then dnf install -y --setopt=keepcache=1 ${list}`,
    `else echo 'kiln: the base image has no apk, apt-get or dnf to install packages with' >&2; exit 127; fi`,
  ].join('; ');
}

/** A YAML value as a Dockerfile word: only `$NAME`/`${NAME}` (and `\$`) keep their meaning. */
function word(v: Scalar): string {
  return String(v).replace(/\\(?!\$)|['"]/g, '\\$&');
}

/** How a pair reads in history (`ENV A=1 B="x y"`), as the same Dockerfile line would. */
function pairText(k: string, v: string): string {
  return /^[^\s"'\\]*$/.test(v) ? `${k}=${v}` : `${k}=${JSON.stringify(v)}`;
}

const ARCHIVE = /\.(tar|tgz|tbz2?|txz|tar\.(gz|bz2|xz|zst))$/i;

function isArchive(url: string): boolean {
  return ARCHIVE.test(new URL(url).pathname);
}

export function compileYaml(parsed: ParsedYaml): DockerfileInstructions {
  const { spec, locate } = parsed;
  const names = new Map<string, number>();
  const stages: Stage[] = [];
  let downloads = 0;
  const fail = (message: string, path: YamlPath, hint?: string) =>
    new KilnError('YAML_INVALID_IMAGE', message, { location: locate(path), hint });
  /** A reference to another image of the file must be to one listed before this one. */
  const earlier = (ref: string, i: number, path: YamlPath): void => {
    const j = spec.images.findIndex((im) => im.name === ref.toLowerCase());
    if (j >= i) {
      throw fail(
        j === i
          ? `image "${ref}" cannot build on itself`
          : `image "${ref}" is listed after the image that uses it`,
        path,
        'list the images of a file in the order they build on each other',
      );
    }
  };
  for (const [i, im] of spec.images.entries()) {
    const at: YamlPath = ['images', i];
    if (names.has(im.name)) throw fail(`image name "${im.name}" is used twice`, [...at, 'name']);
    if (RESERVED.test(im.name))
      throw fail(`image names starting with "kiln-" are kiln's own`, [...at, 'name']);
    names.set(im.name, i);
    earlier(im.from, i, [...at, 'from']);
    for (const [k, c] of (im.copy ?? []).entries())
      if (c.from) earlier(c.from, i, [...at, 'copy', k, 'from']);
    const ins: Instruction[] = [];
    const pre: Stage[] = [];
    compileImage(im, at, locate, ins, (ext, k) => {
      const name = `kiln-external-${downloads++}`;
      const loc = locate([...at, 'external', k, 'src']);
      pre.push(stage(name, 'scratch', [externalAdd(ext, loc, true)], loc, 0));
      return name;
    });
    for (const p of pre) stages.push({ ...p, index: stages.length });
    stages.push(stage(im.name, im.from, ins, locate([...at, 'from']), stages.length));
  }
  return { stages, metaArgs: [], escapeToken: '\\', warnings: [] };
}

function stage(
  name: string,
  base: string,
  instructions: Instruction[],
  location: SourceLocation,
  index: number,
): Stage {
  const original = `FROM ${base} AS ${name}`;
  const from: FromCommand = { kind: 'FROM', baseName: base, name, location, original, flagsUsed: [] };
  return { name, baseName: base, instructions, location, original, docComment: '', index, from };
}

const common = (location: SourceLocation, original: string, flagsUsed: string[] = []) => ({
  location,
  original,
  flagsUsed,
});

function run(cmd: string, location: SourceLocation, mountSpecs: string[] = []): RunCommand {
  const flags = mountSpecs.map((m) => `--mount=${m} `).join('');
  return {
    kind: 'RUN',
    ...common(location, `RUN ${flags}${cmd}`, mountSpecs.length ? ['mount'] : []),
    cmdLine: [cmd],
    files: [],
    prependShell: true,
    mountSpecs,
    mounts: parseMounts(mountSpecs),
    devices: [],
  };
}

function command(
  kind: 'CMD' | 'ENTRYPOINT',
  c: string | string[],
  location: SourceLocation,
): CmdCommand | EntrypointCommand {
  const shell = typeof c === 'string';
  const original = `${kind} ${shell ? c : JSON.stringify(c)}`;
  return {
    kind,
    ...common(location, original),
    cmdLine: shell ? [c] : [...c],
    files: [],
    prependShell: shell,
  };
}

/** The ADD of a download: into a scratch stage (`forStage`) or straight into the image. */
function externalAdd(ext: External, location: SourceLocation, forStage: boolean): AddCommand {
  const archive = isArchive(ext.src);
  const checksum = ext.sha256 ? `sha256:${ext.sha256.replace(/^sha256:/, '')}` : undefined;
  const dest = forStage
    ? archive
      ? '/'
      : '/download'
    : archive
      ? `${ext.dst.replace(/\/+$/, '')}/`
      : ext.dst;
  const flags = [...(checksum ? ['checksum'] : []), ...(archive ? ['unpack'] : ['chmod'])];
  const original = `ADD ${checksum ? `--checksum=${checksum} ` : ''}${archive ? '--unpack=true ' : '--chmod=755 '}${ext.src} ${dest}`;
  return {
    kind: 'ADD',
    ...common(location, original, flags),
    sourcesAndDest: { destPath: dest, sourcePaths: [ext.src], sourceContents: [] },
    chmod: archive ? undefined : '755',
    link: false,
    excludePatterns: [],
    checksum,
    unpack: archive ? true : undefined,
  };
}

function compileImage(
  im: ImageSpec,
  at: YamlPath,
  locate: (p: YamlPath) => SourceLocation,
  out: Instruction[],
  download: (ext: External, k: number) => string,
): void {
  const loc = (...p: (string | number)[]) => locate([...at, ...p]);
  for (const [k, v] of Object.entries(im.args ?? {})) {
    const value = word(v);
    const arg: ArgCommand = {
      kind: 'ARG',
      ...common(loc('args', k), `ARG ${pairText(k, String(v))}`),
      args: [{ key: k, value, docComment: '' }],
      required: false,
    };
    out.push(arg);
  }
  const pairs = (r: Record<string, Scalar>): KeyValuePair[] =>
    Object.entries(r).map(([key, v]) => ({ key, value: word(v), noDelim: false }));
  const pairsText = (r: Record<string, Scalar>) => Object.entries(r).map(([k, v]) => pairText(k, String(v)));
  if (im.env && Object.keys(im.env).length) {
    const env: EnvCommand = {
      kind: 'ENV',
      ...common(loc('env'), `ENV ${pairsText(im.env).join(' ')}`),
      env: pairs(im.env),
    };
    out.push(env);
  }
  if (im.labels && Object.keys(im.labels).length) {
    const label: LabelCommand = {
      kind: 'LABEL',
      ...common(loc('labels'), `LABEL ${pairsText(im.labels).join(' ')}`),
      labels: pairs(im.labels),
    };
    out.push(label);
  }
  if (im.workdir !== undefined) {
    const w: WorkdirCommand = {
      kind: 'WORKDIR',
      ...common(loc('workdir'), `WORKDIR ${im.workdir}`),
      path: word(im.workdir),
    };
    out.push(w);
  }
  if (im.package?.install?.length) {
    const mounts = PACKAGE_CACHES.map((t) => `type=cache,target=${t},sharing=locked`);
    out.push(run(packageScript(im.package.install), loc('package', 'install'), mounts));
  }
  for (const [k, ext] of (im.external ?? []).entries()) {
    if (!ext.install?.length) {
      out.push(externalAdd(ext, loc('external', k, 'src'), false));
      continue;
    }
    // The download is only mounted while `install` runs: what it leaves at dst is not in the image.
    const from = download(ext, k);
    const source = isArchive(ext.src) ? '/' : '/download';
    const mount = `type=bind,from=${from},source=${source},target=${ext.dst}`;
    out.push(run(ext.install.join(' && '), loc('external', k, 'install'), [mount]));
  }
  for (const [k, c] of (im.copy ?? []).entries()) {
    const srcs = typeof c.src === 'string' ? [c.src] : c.src;
    const flags = [
      ...(c.from ? [`--from=${c.from}`] : []),
      ...(c.chown ? [`--chown=${c.chown}`] : []),
      ...(c.chmod ? [`--chmod=${c.chmod}`] : []),
    ];
    const copy: CopyCommand = {
      kind: 'COPY',
      ...common(
        loc('copy', k),
        ['COPY', ...flags, ...srcs, c.dst].join(' '),
        flags.map((f) => f.slice(2, f.indexOf('='))),
      ),
      sourcesAndDest: { destPath: word(c.dst), sourcePaths: srcs.map(word), sourceContents: [] },
      chown: c.chown === undefined ? undefined : word(c.chown),
      chmod: c.chmod === undefined ? undefined : word(c.chmod),
      link: false,
      excludePatterns: [],
      from: c.from,
      parents: false,
    };
    out.push(copy);
  }
  const runs = im.run === undefined ? [] : typeof im.run === 'string' ? [im.run] : im.run;
  for (const [k, r] of runs.entries())
    out.push(run(r, typeof im.run === 'string' ? loc('run') : loc('run', k)));
  if (im.user !== undefined) {
    const u: UserCommand = { kind: 'USER', ...common(loc('user'), `USER ${im.user}`), user: word(im.user) };
    out.push(u);
  }
  if (im.expose?.length) {
    const ports = im.expose.map((p) => String(p));
    // Sorted as the Dockerfile parser sorts them (BuildKit does), so history reads the same.
    const e: ExposeCommand = {
      kind: 'EXPOSE',
      ...common(loc('expose'), `EXPOSE ${ports.join(' ')}`),
      ports: ports.map(word).sort(),
    };
    out.push(e);
  }
  if (im.entrypoint !== undefined) out.push(command('ENTRYPOINT', im.entrypoint, loc('entrypoint')));
  if (im.cmd !== undefined) out.push(command('CMD', im.cmd, loc('cmd')));
}
