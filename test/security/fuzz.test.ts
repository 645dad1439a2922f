/**
 * Fuzzing in the suite: each target (test/security/fuzz/<name>.ts) runs its cases in a worker
 * and must produce only KilnErrors — no other error, no unhandled 'error' event, no hang, no
 * out-of-memory. KILN_FUZZ_CASES sets the cases per target (10,000 for a long run), KILN_FUZZ_SEED
 * the seed, KILN_FUZZ_ONLY=<target>:<case> replays one case. Adding a target is one module.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTarget } from './fuzz/harness.ts';

/** Default cases per target: a few thousand in all, under a minute. */
const TARGETS: Record<string, number> = {
  dockerfile: 1500,
  layer: 800,
  registry: 600,
  context: 600,
  yaml: 1500,
  graph: 800,
};
/**
 * Targets with open findings (kiln bugs they reproduce, listed in test/security/README.md): run
 * only when named, `KILN_FUZZ_ONLY=context`; each moves to TARGETS once its findings are fixed.
 */
const OPEN: Record<string, number> = {};

const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261203);
const override = process.env.KILN_FUZZ_CASES ? Number(process.env.KILN_FUZZ_CASES) : undefined;
const [onlyTarget, onlyCase] = (process.env.KILN_FUZZ_ONLY ?? '').split(':');

describe('fuzzing: hostile inputs give KilnErrors only', () => {
  const open = onlyTarget && onlyTarget in OPEN ? { [onlyTarget]: OPEN[onlyTarget]! } : {};
  for (const [name, cases] of Object.entries({ ...TARGETS, ...open })) {
    if (onlyTarget && onlyTarget !== name) continue;
    const n = override ?? cases;
    it(`${name}: ${onlyCase ? `case ${onlyCase}` : `${n} cases`}`, { timeout: 60 * 60_000 }, async (t) => {
      const module = new URL(`./fuzz/${name}.ts`, import.meta.url).href;
      const { target } = await import(module);
      const report = await runTarget(name, module, {
        seed: SEED,
        cases: n,
        only: onlyCase ? Number(onlyCase) : undefined,
        caseTimeoutMs: target.caseTimeoutMs ?? 10_000,
      });
      const codes = Object.entries(report.codes)
        .sort((a, b) => b[1] - a[1])
        .map(([c, k]) => `${c} ${k}`)
        .join(', ');
      t.diagnostic(
        `${name}: ${report.cases} cases in ${report.ms} ms (${Math.round((report.cases * 1000) / Math.max(1, report.ms))}/s): ${codes}`,
      );
      const shown = report.failures
        .slice(0, 5)
        .map((f) => `KILN_FUZZ_ONLY=${f.target}:${f.index} (${f.kind})\n${f.error}`)
        .join('\n\n');
      assert.equal(
        report.failures.length,
        0,
        `${report.failures.length} failing cases; replay with\n${shown}`,
      );
    });
  }
});
