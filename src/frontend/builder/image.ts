/**
 * The TypeScript builder: `image('busybox').run('make').copy(local(), 'src', '/app')` describes
 * an image as an immutable value, each step returning a new one; `build({ graph })` solves it.
 * A value compiles into the Dockerfile frontend's typed instructions (one stage per image value
 * it reaches: its base, the images it copies from) and goes through the same converter, so it
 * gives the graph and image the same Dockerfile gives. Each step records where in the program
 * it was written, for error messages.
 */
import { KilnError, type SourceLocation } from '../../errors/errors.ts';
import { parseTrigger } from '../dockerfile/convert/convert.ts';
import { convertInstructions } from '../dockerfile/convert/stages.ts';
import type { ConvertOptions, ConvertResult } from '../dockerfile/convert/types.ts';
import {
  makeAddUrl,
  makeArg,
  makeCommand,
  makeCopy,
  makeEnv,
  makeExpose,
  makeLabel,
  makeRun,
  makeStage,
  makeUser,
  makeWorkdir,
} from '../dockerfile/instructions/make.ts';
import type { DockerfileInstructions, Instruction, Stage } from '../dockerfile/instructions/types.ts';

/** A local directory given to the build: `context` (the build context) or a `--build-context` name. */
export interface LocalDir {
  readonly kind: 'local';
  readonly name: string;
}

/** The build context (`local()`), or a named one (`local('assets')` with `buildContexts: { assets: dir }`). */
export function local(name = 'context'): LocalDir {
  return Object.freeze({ kind: 'local', name });
}

export interface CopyOptions {
  chown?: string;
  chmod?: string;
  link?: boolean;
}

export interface AddOptions {
  /** `sha256:…`: the download must have this digest. */
  checksum?: string;
  /** Unpack an archive into `dst`. */
  unpack?: boolean;
  chmod?: string;
}

type Step = { at: SourceLocation } & (
  | { t: 'run'; cmd: string }
  | { t: 'env'; entries: [string, string][] }
  | { t: 'label'; entries: [string, string][] }
  | { t: 'arg'; name: string; value?: string }
  | { t: 'workdir'; path: string }
  | { t: 'user'; user: string }
  | { t: 'expose'; ports: (string | number)[] }
  | { t: 'entrypoint' | 'cmd'; command: string | string[] }
  | { t: 'copy'; from: LocalDir | Image; srcs: string[]; dst: string; opts: CopyOptions }
  | { t: 'add'; url: string; dst: string; opts: AddOptions }
);

/** Where the program called a builder method: the first stack frame outside this file. */
function callSite(): SourceLocation {
  const stack = new Error().stack?.split('\n') ?? [];
  for (const line of stack.slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?$/.exec(line.trim());
    if (!m || m[1].endsWith('/frontend/builder/image.ts')) continue;
    const n = Number(m[2]);
    return { file: m[1].replace(/^file:\/\//, ''), startLine: n, endLine: n, column: Number(m[3]) };
  }
  return { file: '<builder>', startLine: 0, endLine: 0 };
}

const entries = (vars: Record<string, string | number | boolean>): [string, string][] =>
  Object.entries(vars).map(([k, v]) => [k, String(v)]);

/** An image being described: a base and the steps on it. Every method returns a new Image. */
export class Image {
  readonly base: string | Image;
  readonly steps: readonly Step[];
  /** The stage name (`as()`); other images refer to it by this name in history. */
  readonly name?: string;

  constructor(base: string | Image, steps: readonly Step[] = [], name?: string) {
    if (typeof base === 'string' && base.trim() === '') {
      throw new KilnError('INVALID_BUILD_INPUT', 'image() needs a reference', {
        hint: "write image('busybox:1.36')",
      });
    }
    this.base = base;
    this.steps = Object.freeze([...steps]);
    this.name = name;
    Object.freeze(this);
  }

  private with(step: Step): Image {
    return new Image(this.base, [...this.steps, step], this.name);
  }

  /** Name this image's stage (lower case, as Dockerfile stage names are). */
  as(name: string): Image {
    if (!/^[a-z][a-z0-9._-]*$/.test(name)) {
      throw new KilnError('INVALID_BUILD_INPUT', `invalid image name "${name}"`, {
        hint: 'use lower case letters, digits, . _ -, starting with a letter',
      });
    }
    return new Image(this.base, this.steps, name);
  }

  /** RUN: a shell command (`/bin/sh -c`). */
  run(command: string): Image {
    return this.with({ t: 'run', cmd: command, at: callSite() });
  }

  env(vars: Record<string, string | number | boolean>): Image;
  env(name: string, value: string): Image;
  env(a: string | Record<string, string | number | boolean>, value?: string): Image {
    return this.with({
      t: 'env',
      entries: typeof a === 'string' ? [[a, value ?? '']] : entries(a),
      at: callSite(),
    });
  }

  label(labels: Record<string, string>): Image;
  label(name: string, value: string): Image;
  label(a: string | Record<string, string>, value?: string): Image {
    return this.with({
      t: 'label',
      entries: typeof a === 'string' ? [[a, value ?? '']] : entries(a),
      at: callSite(),
    });
  }

  /** ARG: a build argument (`--build-arg` overrides the default), usable as `$NAME` later. */
  arg(name: string, defaultValue?: string): Image {
    return this.with({ t: 'arg', name, value: defaultValue, at: callSite() });
  }

  workdir(path: string): Image {
    return this.with({ t: 'workdir', path, at: callSite() });
  }

  user(user: string): Image {
    return this.with({ t: 'user', user, at: callSite() });
  }

  expose(...ports: (string | number)[]): Image {
    return this.with({ t: 'expose', ports, at: callSite() });
  }

  /** A string is the shell form, a list the exec form. */
  entrypoint(command: string | readonly string[]): Image {
    return this.with({
      t: 'entrypoint',
      command: typeof command === 'string' ? command : [...command],
      at: callSite(),
    });
  }

  cmd(command: string | readonly string[]): Image {
    return this.with({
      t: 'cmd',
      command: typeof command === 'string' ? command : [...command],
      at: callSite(),
    });
  }

  /** COPY from a local directory or from another image: `copy(local(), 'src', '/app')`. */
  copy(from: LocalDir | Image, src: string | readonly string[], dst: string, opts: CopyOptions = {}): Image {
    const srcs = typeof src === 'string' ? [src] : [...src];
    return this.with({ t: 'copy', from, srcs, dst, opts: { ...opts }, at: callSite() });
  }

  /** ADD of an http(s) URL. */
  add(url: string, dst: string, opts: AddOptions = {}): Image {
    return this.with({ t: 'add', url, dst, opts: { ...opts }, at: callSite() });
  }
}

/** Start an image from a reference (`busybox:1.36`, `scratch`) or from another Image. */
export function image(base: string | Image): Image {
  return new Image(base);
}

/** One stage per Image value the target reaches, dependencies first. */
export function compileImage(target: Image): DockerfileInstructions {
  const names = new Map<Image, string>();
  const taken = new Map<string, Image>();
  const stages: Stage[] = [];
  const visiting = new Set<Image>();
  const visit = (img: Image): string => {
    const known = names.get(img);
    if (known) return known;
    // Image values are immutable and made in order, so a value cannot reach itself; kept as a guard.
    if (visiting.has(img)) throw new KilnError('INVALID_BUILD_INPUT', 'an image builds on itself');
    visiting.add(img);
    const base = typeof img.base === 'string' ? img.base : visit(img.base);
    for (const s of img.steps) if (s.t === 'copy' && s.from instanceof Image) visit(s.from);
    const name = img.name ?? `stage-${stages.length}`;
    const other = taken.get(name);
    if (other && other !== img) {
      throw new KilnError('INVALID_BUILD_INPUT', `two different images are named "${name}"`, {
        hint: 'give each image its own name with .as()',
      });
    }
    taken.set(name, img);
    names.set(img, name);
    const at = img.steps[0]?.at ?? callSite();
    stages.push(
      makeStage(
        name,
        base,
        img.steps.map((s) => instruction(s, names)),
        at,
        stages.length,
      ),
    );
    visiting.delete(img);
    return name;
  };
  visit(target);
  return { stages, metaArgs: [], escapeToken: '\\', warnings: [] };
}

function instruction(s: Step, names: Map<Image, string>): Instruction {
  switch (s.t) {
    case 'run':
      return makeRun(s.cmd, s.at);
    case 'env':
      return makeEnv(s.entries, s.at);
    case 'label':
      return makeLabel(s.entries, s.at);
    case 'arg':
      return makeArg(s.name, s.value, s.at);
    case 'workdir':
      return makeWorkdir(s.path, s.at);
    case 'user':
      return makeUser(s.user, s.at);
    case 'expose':
      return makeExpose(s.ports, s.at);
    case 'entrypoint':
      return makeCommand('ENTRYPOINT', s.command, s.at);
    case 'cmd':
      return makeCommand('CMD', s.command, s.at);
    case 'copy': {
      const from =
        s.from instanceof Image ? names.get(s.from) : s.from.name === 'context' ? undefined : s.from.name;
      return makeCopy({ srcs: s.srcs, dst: s.dst, from, ...s.opts }, s.at);
    }
    case 'add':
      return makeAddUrl(s.url, s.dst, s.opts, s.at);
  }
}

/** The builder as a frontend: the target Image → graph and image config. */
export async function convertImage(target: Image, opts: ConvertOptions): Promise<ConvertResult> {
  if (!(target instanceof Image)) {
    throw new KilnError('INVALID_BUILD_INPUT', 'build({ graph }) takes an image made with image()', {
      hint: "import { image } from 'kiln' and pass image('busybox').run('…')",
    });
  }
  return convertInstructions(compileImage(target), { ...opts, file: '<builder>', parseTrigger });
}
