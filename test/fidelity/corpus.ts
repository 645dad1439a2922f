/**
 * The fidelity corpus: one folder per case under test/fidelity/cases (a Dockerfile, its context,
 * an optional `setup.sh` that makes what git cannot hold — hardlinks, special modes, tarballs —
 * and an optional `case.json`). Runs a case through BuildKit (the reference, whose summaries are
 * kept as golden data in test/fidelity/testdata/expected/) and through kiln, and judges kiln's result.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_IMAGE_NAME, buildBusyboxRootfs } from './base.ts';
import {
  type BuildOptions,
  baseDockerArchive,
  buildahBuild,
  buildahImportBase,
  buildahSave,
  DOCKER,
  dockerBuild,
  dockerSave,
  ensureBuildah,
  ensureDocker,
  ensureDockerBase,
  kilnBuild,
  kilnImportBase,
  runTool,
} from './builders.ts';
import {
  type CaseAssertions,
  type CaseResult,
  checkAssertions,
  compareSummaries,
  type IgnoreKey,
} from './compare.ts';
import { baseFilesystem, type FsEntry, type ImageSummary, summariseImage } from './image-archive.ts';

export const FIDELITY_DIR = import.meta.dirname;
export const CASES_DIR = join(FIDELITY_DIR, 'cases');
export const EXPECTED_DIR = join(FIDELITY_DIR, 'testdata/expected');

export interface CaseSpec {
  buildArgs?: Record<string, string>;
  target?: string;
  /** Why the reference is not a plain BuildKit build of the case's Dockerfile. */
  reason?: string;
  /** Dockerfile BuildKit builds instead (its frontend lacks the syntax the case tests). */
  buildkitDockerfile?: string;
  ignore?: IgnoreKey[];
  assert?: CaseAssertions;
}

export interface FidelityCase {
  name: string;
  dir: string;
  spec: CaseSpec;
}

export function listCases(only?: string): FidelityCase[] {
  const names = readdirSync(CASES_DIR)
    .filter((n) => existsSync(join(CASES_DIR, n, 'Dockerfile')))
    .sort();
  const picked = only
    ? names.filter((n) => n === only || n.startsWith(`${only}-`) || n.includes(only))
    : names;
  if (only && picked.length === 0) throw new Error(`no fidelity case matches "${only}" in ${CASES_DIR}`);
  return picked.map((name) => {
    const dir = join(CASES_DIR, name);
    const specFile = join(dir, 'case.json');
    const spec = existsSync(specFile) ? (JSON.parse(readFileSync(specFile, 'utf8')) as CaseSpec) : {};
    return { name, dir, spec };
  });
}

/**
 * Copy a case to a fresh temp dir, normalise modes (checkouts differ in umask: files 0644 or
 * 0755 by their x bit, dirs 0755), then run its setup.sh there. Returns the context dir.
 */
export function prepareContext(c: FidelityCase): string {
  const ctx = mkdtempSync(join(tmpdir(), `kiln-fid-${c.name}-`));
  cpSync(c.dir, ctx, { recursive: true, verbatimSymlinks: true });
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, n.name);
      if (n.isSymbolicLink()) continue;
      if (n.isDirectory()) {
        chmodSync(p, 0o755);
        walk(p);
      } else chmodSync(p, statSync(p).mode & 0o100 ? 0o755 : 0o644);
    }
  };
  chmodSync(ctx, 0o755);
  walk(ctx);
  if (existsSync(join(ctx, 'setup.sh'))) execFileSync('sh', ['./setup.sh'], { cwd: ctx, stdio: 'inherit' });
  return ctx;
}

export interface Workspace {
  rootfsTar: string;
  base: { diffId: string; fs: Map<string, FsEntry> };
  scratch: string;
}

export function makeWorkspace(scratch = mkdtempSync(join(tmpdir(), 'kiln-fidelity-'))): Workspace {
  const rootfsTar = buildBusyboxRootfs(join(scratch, 'busybox-rootfs.tar'));
  return { rootfsTar, base: baseFilesystem(rootfsTar), scratch };
}

/** Start docker if needed and import the base; returns a description of the reference builder. */
export function prepareBuildKit(ws: Workspace): string {
  const { serverVersion } = ensureDocker();
  ensureDockerBase(ws.rootfsTar, ws.base.diffId);
  return `BuildKit in Docker Engine ${serverVersion} (DOCKER_BUILDKIT=1 docker build)`;
}

function buildOptions(c: FidelityCase, dockerfile?: string): BuildOptions {
  return { buildArgs: c.spec.buildArgs, target: c.spec.target, dockerfile };
}

/** Build a case with BuildKit and summarise the saved image. */
export async function buildReference(ws: Workspace, c: FidelityCase, builder: string): Promise<ImageSummary> {
  const ctx = prepareContext(c);
  const tag = `kiln-fid-${c.name}`;
  try {
    const df = c.spec.buildkitDockerfile ? join(ctx, c.spec.buildkitDockerfile) : undefined;
    dockerBuild(ctx, tag, buildOptions(c, df));
    const out = join(ws.scratch, `${c.name}.buildkit.tar`);
    dockerSave(tag, out);
    const summary = await summariseImage(out, { builder, baseDiffId: ws.base.diffId, baseFs: ws.base.fs });
    rmSync(out, { force: true });
    return summary;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    runTool(DOCKER, ['rmi', '-f', tag]);
  }
}

/** A builder judged against the reference: kiln normally; buildah to exercise the judge itself. */
export interface Candidate {
  name: string;
  /** Build the case's context with these options and write a docker-save or OCI archive to `dest`. */
  build: (ctx: string, o: BuildOptions, dest: string, tag: string) => void;
}

/** kiln with its own root (the base image imported once). */
export function kilnCandidate(ws: Workspace): Candidate {
  const root = join(ws.scratch, 'kiln-root');
  mkdirSync(root, { recursive: true });
  kilnImportBase(root, ws.rootfsTar);
  return { name: 'kiln', build: (ctx, o, dest) => kilnBuild(root, ctx, dest, o) };
}

/** buildah with a storage root of its own under the scratch dir. */
export function buildahCandidate(ws: Workspace): Candidate {
  const got = ensureBuildah(join(ws.scratch, 'buildah'));
  if (!got) throw new Error('buildah is not available (not installable, or no working storage driver)');
  buildahImportBase(
    got.store,
    baseDockerArchive(ws.rootfsTar, ws.base.diffId, join(ws.scratch, 'base-archive.tar')),
  );
  return {
    name: 'buildah',
    build: (ctx, o, dest, tag) => {
      buildahBuild(got.store, ctx, tag, o);
      buildahSave(got.store, tag, dest);
    },
  };
}

/** BuildKit itself as the candidate: checks that the golden summaries are reproducible. */
export function buildkitCandidate(ws: Workspace): Candidate {
  prepareBuildKit(ws);
  return {
    name: 'buildkit',
    build: (ctx, o, dest, tag) => {
      dockerBuild(ctx, tag, o);
      dockerSave(tag, dest);
      runTool(DOCKER, ['rmi', '-f', tag]);
    },
  };
}

/** Build a case with a candidate builder and summarise what it exported. */
export async function buildCandidate(ws: Workspace, c: FidelityCase, cand: Candidate): Promise<ImageSummary> {
  const ctx = prepareContext(c);
  try {
    const out = join(ws.scratch, `${c.name}.${cand.name}.tar`);
    cand.build(ctx, buildOptions(c), out, `kiln-fid-${c.name}`);
    const summary = await summariseImage(out, {
      builder: cand.name,
      baseDiffId: ws.base.diffId,
      baseFs: ws.base.fs,
    });
    rmSync(out, { force: true });
    return summary;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export function expectedPath(name: string): string {
  return join(EXPECTED_DIR, `${name}.json`);
}

export function readExpected(name: string): ImageSummary | undefined {
  const p = expectedPath(name);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ImageSummary) : undefined;
}

export function writeExpected(name: string, s: ImageSummary): void {
  writeFileSync(expectedPath(name), `${JSON.stringify(s, null, 2)}\n`);
}

/** Judge kiln's summary against the reference and the case's own assertions. */
export function judge(
  c: FidelityCase,
  reference: ImageSummary,
  kiln: ImageSummary,
  ws: Workspace,
): CaseResult {
  const { differences, notes } = compareSummaries(reference, kiln, c.spec.ignore ?? []);
  if (c.spec.assert) differences.push(...checkAssertions(kiln, c.spec.assert, ws.base.fs));
  return { name: c.name, verdict: differences.length === 0 ? 'same' : 'differs', differences, notes };
}

export { BASE_IMAGE_NAME };
