/**
 * kiln YAML → the Dockerfile frontend's typed instructions, one stage per image, in a fixed
 * order per image: args, env, labels, workdir, packages, external downloads, copies, runs, user,
 * expose, entrypoint, cmd. The Dockerfile converter then makes the graph, so a YAML image and
 * the Dockerfile with the same steps give the same graph and image config. Instructions are
 * built as values, never as Dockerfile text, so nothing in a YAML value can become an
 * instruction or a flag; each carries the file:line:column of the YAML it came from.
 */
import { KilnError, type SourceLocation } from '../../errors/errors.ts';
import {
  makeAddUrl,
  makeArg,
  makeCommand,
  makeCopy,
  makeEnv,
  makeExpose,
  makeLabel,
  makeMountSpec,
  makeRun,
  makeStage,
  makeUser,
  makeWorkdir,
} from '../dockerfile/instructions/make.ts';
import type {
  AddCommand,
  DockerfileInstructions,
  Instruction,
  Stage,
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

const ARCHIVE = /\.(tar|tgz|tbz2?|txz|tar\.(gz|bz2|xz|zst))$/i;

/** By the URL's path (its query and fragment aside); an unparsable URL is left to ADD to refuse. */
function isArchive(url: string): boolean {
  return ARCHIVE.test(URL.canParse(url) ? new URL(url).pathname : url.replace(/[?#].*$/, ''));
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
      pre.push(makeStage(name, 'scratch', [externalAdd(ext, loc, true)], loc, 0));
      return name;
    });
    for (const p of pre) stages.push({ ...p, index: stages.length });
    stages.push(makeStage(im.name, im.from, ins, locate([...at, 'from']), stages.length));
  }
  return { stages, metaArgs: [], escapeToken: '\\', warnings: [] };
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
  return makeAddUrl(
    ext.src,
    dest,
    archive ? { checksum, unpack: true } : { checksum, chmod: '755' },
    location,
  );
}

function compileImage(
  im: ImageSpec,
  at: YamlPath,
  locate: (p: YamlPath) => SourceLocation,
  out: Instruction[],
  download: (ext: External, k: number) => string,
): void {
  const loc = (...p: (string | number)[]) => locate([...at, ...p]);
  const entries = (r: Record<string, Scalar>) => Object.entries(r).map(([k, v]) => [k, String(v)] as const);
  for (const [k, v] of Object.entries(im.args ?? {})) out.push(makeArg(k, String(v), loc('args', k)));
  if (im.env && Object.keys(im.env).length) out.push(makeEnv(entries(im.env), loc('env')));
  if (im.labels && Object.keys(im.labels).length) out.push(makeLabel(entries(im.labels), loc('labels')));
  if (im.workdir !== undefined) out.push(makeWorkdir(im.workdir, loc('workdir')));
  if (im.package?.install?.length) {
    const mounts = PACKAGE_CACHES.map((target) =>
      makeMountSpec({ type: 'cache', target, sharing: 'locked' }),
    );
    out.push(makeRun(packageScript(im.package.install), loc('package', 'install'), mounts));
  }
  for (const [k, ext] of (im.external ?? []).entries()) {
    if (!ext.install?.length) {
      out.push(externalAdd(ext, loc('external', k, 'src'), false));
      continue;
    }
    // The download is only mounted while `install` runs: what it leaves at dst is not in the image.
    const from = download(ext, k);
    const source = isArchive(ext.src) ? '/' : '/download';
    const mount = makeMountSpec({ type: 'bind', from, source, target: ext.dst });
    out.push(makeRun(ext.install.join(' && '), loc('external', k, 'install'), [mount]));
  }
  for (const [k, c] of (im.copy ?? []).entries()) {
    const srcs = typeof c.src === 'string' ? [c.src] : c.src;
    out.push(makeCopy({ srcs, dst: c.dst, from: c.from, chown: c.chown, chmod: c.chmod }, loc('copy', k)));
  }
  const runs = im.run === undefined ? [] : typeof im.run === 'string' ? [im.run] : im.run;
  for (const [k, r] of runs.entries())
    out.push(makeRun(r, typeof im.run === 'string' ? loc('run') : loc('run', k)));
  if (im.user !== undefined) out.push(makeUser(im.user, loc('user')));
  if (im.expose?.length) out.push(makeExpose(im.expose, loc('expose')));
  if (im.entrypoint !== undefined) out.push(makeCommand('ENTRYPOINT', im.entrypoint, loc('entrypoint')));
  if (im.cmd !== undefined) out.push(makeCommand('CMD', im.cmd, loc('cmd')));
}
