/**
 * Build checks end to end through `bin/kiln`: `--check` / `--call=check` print buildx's report
 * and exit 1 on any finding without running a step; a build shows the findings after it as
 * buildx does; `# check=skip=…`, `error=true` and BUILDKIT_DOCKERFILE_CHECK (build arg or
 * environment) are honoured; the fidelity corpus reports exactly the reviewed findings.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { kiln, makeContext, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('checks');
});
after(() => suite.close());

const BAD = 'FROM busybox AS Base\nRUN touch /ran\nCMD echo hi\n';

describe('kiln build --check', () => {
  it('prints each finding with its link and lines, exits 1, and neither runs a step nor stores an image', async () => {
    const ctx = await makeContext(suite, { Dockerfile: BAD });
    const r = kiln(suite, ['build', '--check', '--progress=plain', '-t', 'checked:1', ctx]);
    assert.equal(r.code, 1, r.err);
    assert.equal(
      r.out,
      [
        'Check complete, 2 warnings have been found!',
        '',
        'WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/',
        "Stage name 'Base' should be lowercase",
        'Dockerfile:1',
        '--------------------',
        '   1 | >>> FROM busybox AS Base',
        '   2 |     RUN touch /ran',
        '   3 |     CMD echo hi',
        '--------------------',
        '',
        'WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
        'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
        'Dockerfile:3',
        '--------------------',
        '   1 |     FROM busybox AS Base',
        '   2 |     RUN touch /ran',
        '   3 | >>> CMD echo hi',
        '   4 |     ',
        '--------------------',
        '',
      ].join('\n'),
    );
    assert.match(
      r.err,
      /load metadata for docker\.io\/library\/busybox:latest/,
      'the base config is resolved',
    );
    assert.doesNotMatch(r.err, /RUN touch/, 'no step runs');
    assert.equal(await suite.store.images.get(normalizeReference('checked:1')), undefined);
  });

  it('--call=check is the same; a clean Dockerfile exits 0 with "no warnings found"', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCMD ["true"]\n' });
    const r = kiln(suite, ['build', '--call=check', '-q', ctx]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'Check complete, no warnings found.\n');
    const bad = kiln(suite, [
      'build',
      '--call',
      'check',
      '-q',
      await makeContext(suite, { Dockerfile: BAD }),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^Check complete, 2 warnings have been found!/);
  });

  it("checks every stage when no --target is given, only the target's when one is", async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox AS side\nWORKDIR rel\nFROM busybox AS main\nCMD ["true"]\n',
    });
    const all = kiln(suite, ['build', '--check', '-q', ctx]);
    assert.equal(all.code, 1);
    assert.match(all.out, /WARNING: WorkdirRelativePath/);
    const main = kiln(suite, ['build', '--check', '-q', '--target', 'main', ctx]);
    assert.equal(main.code, 0, main.out);
  });

  it('# check=skip=all reports nothing and exits 0; a build with it prints no warning', async () => {
    const ctx = await makeContext(suite, { Dockerfile: `# check=skip=all\n${BAD}` });
    const check = kiln(suite, ['build', '--check', '-q', ctx]);
    assert.equal(check.code, 0, check.err);
    assert.equal(check.out, 'Check complete, no warnings found.\n');
    const b = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(b.code, 0, b.err);
    assert.doesNotMatch(b.err, /warning|WARN/i);
  });

  it('check=error=true: --check prints the findings and fails with LINT_VIOLATION; a build fails before any step', async () => {
    const ctx = await makeContext(suite, { Dockerfile: `# check=error=true\n${BAD}` });
    const check = kiln(suite, ['build', '--check', '-q', ctx]);
    assert.equal(check.code, 1);
    assert.match(check.out, /^Check complete, 2 warnings have been found!/);
    assert.match(check.err, /lint violation found for rules: JSONArgsRecommended, StageNameCasing/);
    const b = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(b.code, 1);
    assert.match(b.err, /lint violation found for rules: JSONArgsRecommended, StageNameCasing/);
    assert.doesNotMatch(b.err, /RUN touch/);
  });

  it('BUILDKIT_DOCKERFILE_CHECK as a build arg or in the environment wins over the directive', async () => {
    const ctx = await makeContext(suite, { Dockerfile: `# check=error=true\n${BAD}` });
    const arg = kiln(suite, [
      'build',
      '--check',
      '-q',
      '--build-arg',
      'BUILDKIT_DOCKERFILE_CHECK=skip=StageNameCasing,JSONArgsRecommended',
      ctx,
    ]);
    assert.equal(arg.code, 0, arg.err);
    const env = kiln(suite, ['build', '--check', '-q', ctx], {
      env: { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' },
    });
    assert.equal(env.code, 0, env.err);
    assert.equal(env.out, 'Check complete, no warnings found.\n');
  });

  it('reports a base image made for another platform, which a build refuses', async () => {
    // kiln-test/busybox:arm64 is a single arm64 manifest (no index): BuildKit would use it and warn.
    const ctx = await makeContext(suite, { Dockerfile: 'FROM kiln-test/busybox:arm64\nCMD ["true"]\n' });
    const r = kiln(suite, ['build', '--check', '-q', '--platform', 'linux/amd64', ctx]);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.out,
      /WARNING: InvalidBaseImagePlatform\nBase image kiln-test\/busybox:arm64 was pulled with platform "linux\/arm64", expected "linux\/amd64" for current build\nDockerfile:1\n/,
    );
    const b = kiln(suite, ['build', '-q', '--platform', 'linux/amd64', ctx]);
    assert.equal(b.code, 1);
    assert.match(b.err, /is for linux\/arm64 .*not linux\/amd64/);
  });

  it('--check with --call=outline is refused', () => {
    const r = kiln(suite, ['build', '--check', '--call=outline', '.']);
    assert.equal(r.code, 1);
    assert.match(r.err, /--check conflicts with --call=outline/);
  });
});

describe('warnings after a build', () => {
  it('plain progress ends with the count and one line per finding, as buildx prints them', async () => {
    const ctx = await makeContext(suite, { Dockerfile: BAD });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /\n 2 warnings found \(use kiln --debug to expand\):\n - StageNameCasing: Stage name 'Base' should be lowercase \(line 1\)\n - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals \(line 3\)\n/,
    );
  });
});

/**
 * What `--check` finds in the fidelity corpus, reviewed against BuildKit's rules: ENV words are
 * all expanded before any is set (so `C=${A}x` reads an unset A), `${V:-default}` still reads V,
 * and `ENV D legacy form value` is the legacy form. Every other case is clean.
 */
const CORPUS_FINDINGS: Record<string, string[]> = {
  '03-entrypoint-cmd-shell': ['JSONArgsRecommended:2', 'JSONArgsRecommended:3'],
  '05-env-forms': ['UndefinedVar:2', 'LegacyKeyValueFormat:3'],
  '31-arg-env-scoping': ['UndefinedVar:14'],
  '39-env-expansion': ['UndefinedVar:3', 'UndefinedVar:7', 'UndefinedVar:8'],
};

describe('--check over the fidelity corpus', () => {
  const cases = join(import.meta.dirname, '..', '..', 'fidelity', 'cases');
  for (const name of readdirSync(cases).sort()) {
    it(`${name}: ${CORPUS_FINDINGS[name] ? 'only the reviewed findings' : 'nothing'}`, () => {
      const r = kiln(suite, ['build', '--check', '-q', join(cases, name)]);
      const found = [...r.out.matchAll(/^WARNING: (\w+).*\n.*\nDockerfile:(\d+)$/gm)].map(
        (m) => `${m[1]}:${m[2]}`,
      );
      assert.deepEqual(found, CORPUS_FINDINGS[name] ?? [], r.out + r.err);
      assert.equal(r.code, found.length > 0 ? 1 : 0, r.err);
    });
  }
});
