/**
 * Fidelity run: build every case in test/fidelity/cases with BuildKit (Docker Engine, installed
 * and started on demand) and with kiln, compare them, print a table, exit 1 on any difference.
 *
 *   node scripts/fidelity.ts [--case NAME] [--keep] [--reference-only] [--update-expected] [--no-docker]
 *                            [--candidate kiln|buildah|buildkit]
 *
 * --reference-only   build only with BuildKit, check its assertions, and write the golden summaries
 *                    to test/fidelity/testdata/expected/ (what to run while `kiln build` does not exist yet)
 * --no-docker        compare kiln against the committed golden summaries instead of a live BuildKit
 * --update-expected  also rewrite the golden summaries from this BuildKit run
 * --candidate        the builder judged (default kiln); buildah exercises the judge on a real third
 *                    builder, and its differences from BuildKit are real ones; buildkit (with
 *                    --no-docker) checks that the golden summaries are reproducible
 * --ignore KEY       leave KEY out for every case (repeatable), e.g. history.created_by: the
 *                    reference is an older BuildKit whose history wording newer ones changed
 * --verbose          also print notes (both layer digests where they differ)
 * --keep             keep the scratch dir (contexts, archives, kiln root) and print its path
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { kilnCanBuild } from '../test/fidelity/builders.ts';
import { type CaseResult, checkAssertions, formatTable, type IgnoreKey } from '../test/fidelity/compare.ts';
import {
  buildahCandidate,
  buildCandidate,
  buildkitCandidate,
  buildReference,
  type Candidate,
  judge,
  kilnCandidate,
  listCases,
  makeWorkspace,
  prepareBuildKit,
  readExpected,
  writeExpected,
} from '../test/fidelity/corpus.ts';
import type { ImageSummary } from '../test/fidelity/image-archive.ts';

const { values } = parseArgs({
  options: {
    case: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'reference-only': { type: 'boolean', default: false },
    'update-expected': { type: 'boolean', default: false },
    'no-docker': { type: 'boolean', default: false },
    candidate: { type: 'string', default: 'kiln' },
    verbose: { type: 'boolean', default: false },
    ignore: { type: 'string', multiple: true, default: [] },
  },
});

const cases = listCases(values.case);
const ws = makeWorkspace();
const referenceOnly = values['reference-only'];
const useDocker = !values['no-docker'];
if (!referenceOnly && values.candidate === 'kiln' && !kilnCanBuild()) {
  console.error(
    'fidelity: `kiln build` is not available in this checkout; use --reference-only to run BuildKit alone',
  );
  process.exit(2);
}
const builder = useDocker ? prepareBuildKit(ws) : 'golden summaries in test/fidelity/testdata/expected';
console.log(`reference: ${builder}`);
let candidate: Candidate | undefined;
if (!referenceOnly) {
  if (values.candidate === 'kiln') candidate = kilnCandidate(ws);
  else if (values.candidate === 'buildah') candidate = buildahCandidate(ws);
  else if (values.candidate === 'buildkit') candidate = buildkitCandidate(ws);
  else throw new Error(`--candidate must be kiln, buildah or buildkit, not "${values.candidate}"`);
  console.log(`candidate: ${candidate.name}`);
}

const results: CaseResult[] = [];
for (const c of cases) {
  const started = Date.now();
  try {
    let reference: ImageSummary | undefined;
    if (useDocker) {
      reference = await buildReference(ws, c, builder);
      if (referenceOnly || values['update-expected']) writeExpected(c.name, reference);
    } else {
      reference = readExpected(c.name);
      if (!reference) throw new Error(`no golden summary test/fidelity/testdata/expected/${c.name}.json`);
    }
    if (referenceOnly) {
      // The reference must satisfy the case's own assertions too (a stand-in Dockerfile may
      // differ in layer count, so that one is left to kiln's run).
      const assertions = c.spec.buildkitDockerfile ? { ...c.spec.assert, layers: undefined } : c.spec.assert;
      const diffs = assertions ? checkAssertions(reference, assertions, ws.base.fs) : [];
      results.push({
        name: c.name,
        verdict: diffs.length ? 'differs' : 'reference-only',
        differences: diffs,
        notes: [],
      });
    } else {
      const got = await buildCandidate(ws, c, candidate!);
      if (values.keep)
        writeFileSync(join(ws.scratch, `${c.name}.${candidate!.name}.json`), JSON.stringify(got, null, 2));
      const spec = { ...c.spec, ignore: [...(c.spec.ignore ?? []), ...(values.ignore as IgnoreKey[])] };
      results.push(judge({ ...c, spec }, reference, got, ws));
    }
  } catch (err) {
    const lines = (err as Error).message.split('\n').filter((l) => l.trim() !== '');
    const telling = lines.slice(1).filter((l) => /error|hint|failed to/i.test(l));
    const msg = [lines[0], ...(telling.length ? telling.slice(-3) : lines.slice(1).slice(-2))].join(' | ');
    results.push({ name: c.name, verdict: 'error', differences: [], notes: [], error: msg });
  }
  process.stderr.write(
    `  ${c.name}: ${results.at(-1)?.verdict} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}

console.log(formatTable(results));
// Layer digests differ whenever mtimes do; list them only on request.
const noted = results.filter((r) => r.notes.length > 0);
if (values.verbose) for (const r of noted) for (const n of r.notes) console.log(`note ${r.name}: ${n}`);
else if (noted.length)
  console.log(`notes: layer digests differ in ${noted.length} case(s) (mtimes); --verbose lists them`);
const bad = results.filter((r) => r.verdict === 'differs' || r.verdict === 'error').length;
console.log(`${results.length - bad} passed, ${bad} failed`);
if (values.keep) console.log(`kept scratch dir: ${ws.scratch}`);
else rmSync(ws.scratch, { recursive: true, force: true });
process.exit(bad === 0 ? 0 : 1);
