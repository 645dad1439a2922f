/**
 * Why a step missed the cache, in words: the first difference between what its key is made of
 * now and in its most recent earlier record — ignored cache, no record, a pruned result, its own
 * op (base image digest, a build arg, the instruction's text), an input step, the files it read.
 */
import type { StepRecord } from './records.ts';

/** Files named in one explanation; the rest are counted. */
const LISTED_FILES = 5;

export interface MissContext {
  /** The step ignores the cache: why (`--no-cache`, `--no-cache-filter`). */
  ignored?: string;
  /** Whether a path is still in the context directory (a file gone from the list but on disk was excluded). */
  exists?(path: string): boolean;
}

/** `[build 2/4] RUN make` → `RUN make`. */
export function stripPrefix(name: string): string {
  return name.replace(/^\[[^\]]*\] /, '');
}

/** `[linux/arm64 build 2/4] RUN make` → `[linux/arm64 build 2/4]` (the step's place), or undefined. */
export function positionOf(name: string): string | undefined {
  return /^\[[^\]]*\d+\/\d+\]/.exec(name)?.[0];
}

/** The stage a step name's bracket names (`[linux/arm64 build 2/4]` → `build`; '' for none). */
function stageOf(name: string): string {
  const m = /^\[(?:(.*) )?\d+\/\d+\] /.exec(name);
  // A multi-platform build puts the platform first: it is not part of the stage's name.
  return (m?.[1] ?? '').replace(/^\S*\/\S* ?/, '');
}

/** `(step 4)`, or `(stage build, step 4)` when the input is in another stage than `self`. */
function stepRef(input: string, self: string): string {
  const m = /^\[(?:.* )?(\d+)\/\d+\] /.exec(input);
  if (!m) return '';
  const stage = stageOf(input);
  return stage !== stageOf(self) && stage !== '' ? ` (stage ${stage}, step ${m[1]})` : ` (step ${m[1]})`;
}

/** `name@sha256:…` → its parts (a reference without a digest keeps it whole). */
function splitPinned(ref: string): { name: string; digest?: string } {
  const at = ref.lastIndexOf('@');
  return at < 0 ? { name: ref } : { name: ref.slice(0, at), digest: ref.slice(at + 1) };
}

/** The explanation of a miss (without the `cache miss: ` prefix). */
export function missReason(prev: StepRecord | undefined, cur: StepRecord, ctx: MissContext = {}): string {
  if (ctx.ignored) return ctx.ignored;
  if (!prev) return 'no earlier record of this step';
  if (prev.key === cur.key)
    return `cache pruned: the result build ${prev.build.slice(0, 12)} made was removed`;
  if (prev.op !== cur.op) return opChange(prev, cur);
  // The files a step reads itself come first: they are the nearest cause.
  const files = fileChanges(prev, cur, ctx);
  if (files) return files;
  let dirChanged: string | undefined;
  for (const [i, input] of cur.inputs.entries()) {
    const before = prev.inputs[i];
    if (input.dir) {
      // The context's own key holds its filters: its files are compared below.
      if (before?.key !== input.key) dirChanged ??= input.name;
      continue;
    }
    if (!before || before.key !== input.key) {
      // A COPY --from keyed by what it copies (solver ContentInputs): the files changed.
      if (input.key.startsWith('content:') && before?.key.startsWith('content:'))
        return `the files it copies from ${stripPrefix(input.name)}${stepRef(input.name, cur.name)} changed`;
      return `its input changed: ${stripPrefix(input.name)}${stepRef(input.name, cur.name)}`;
    }
  }
  if (dirChanged)
    return prev.excludes !== cur.excludes
      ? '.dockerignore changed (the files this step reads did not)'
      : `its source changed: ${stripPrefix(dirChanged)}`;
  if (prev.inputs.length !== cur.inputs.length) return 'its inputs changed';
  return 'its cache key changed';
}

function opChange(prev: StepRecord, cur: StepRecord): string {
  if (prev.image !== undefined && cur.image !== undefined && prev.image !== cur.image) {
    const a = splitPinned(prev.image);
    const b = splitPinned(cur.image);
    if (a.name === b.name && b.digest)
      return `${stripPrefix(cur.name).replace(/@sha256:[0-9a-f]+$/, '')} — the registry now resolves ${b.name} to ${b.digest} (was ${a.digest ?? 'unpinned'})`;
    return `base image changed: ${b.name} (was ${a.name})`;
  }
  const args = envChanges(prev, cur);
  if (args) return args;
  if (stripPrefix(prev.name) !== stripPrefix(cur.name))
    return `instruction changed: ${stripPrefix(cur.name)} (was: ${stripPrefix(prev.name)})`;
  return 'its definition changed (options such as platform, network or mounts)';
}

/** Variables of a RUN's environment that changed: `ARG VERSION changed: 1.2 → 1.3`. */
function envChanges(prev: StepRecord, cur: StepRecord): string | undefined {
  const a = prev.env ?? {};
  const b = cur.env ?? {};
  const args = new Set([...(prev.argNames ?? []), ...(cur.argNames ?? [])]);
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const out: string[] = [];
  for (const n of names) {
    if (a[n] === b[n]) continue;
    const show = (v: string | undefined) => (v === undefined ? '(unset)' : JSON.stringify(v).slice(1, -1));
    out.push(`${args.has(n) ? 'ARG' : 'ENV'} ${n} changed: ${show(a[n])} → ${show(b[n])}`);
  }
  return out.length ? out.join('; ') : undefined;
}

function fileChanges(prev: StepRecord, cur: StepRecord, ctx: MissContext): string | undefined {
  if (prev.filesTotal !== undefined || cur.filesTotal !== undefined) {
    if (prev.filesDigest === cur.filesDigest) return undefined;
    return `the files it reads changed (${cur.filesTotal ?? Object.keys(cur.files ?? {}).length} files, too many to compare)`;
  }
  const a = prev.files ?? {};
  const b = cur.files ?? {};
  const ignoreChanged = prev.excludes !== cur.excludes;
  const changes: string[] = [];
  for (const path of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const was = a[path];
    const now = b[path];
    if (was === now) continue;
    if (was === undefined) changes.push(`${path} (${ignoreChanged ? 'newly included' : 'new'})`);
    else if (now === undefined)
      changes.push(`${path} (${ignoreChanged && ctx.exists?.(path) ? 'newly excluded' : 'deleted'})`);
    else {
      const [t1, m1, d1] = was.split(' ');
      const [t2, m2, d2] = now.split(' ');
      changes.push(
        `${path} (${t1 !== t2 ? 'type' : d1 !== d2 ? 'content' : m1 !== m2 ? 'mode' : 'changed'})`,
      );
    }
  }
  if (changes.length === 0) return undefined;
  const more = changes.length > LISTED_FILES ? `, and ${changes.length - LISTED_FILES} more` : '';
  const what = changes.length === 1 ? '1 file changed' : `${changes.length} files changed`;
  const why = ignoreChanged ? ' (.dockerignore changed)' : '';
  return `${what}${why}: ${changes.slice(0, LISTED_FILES).join(', ')}${more}`;
}
