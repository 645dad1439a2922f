import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convert } from './testing.ts';

const CMD_SHELL = 'FROM scratch\nCMD echo hi\nENV PASSWORD=x\n';

describe('# syntax=', () => {
  it("BuildKit's Dockerfile frontend, by any tag or digest, is the built-in one", async () => {
    for (const ref of [
      'docker/dockerfile:1',
      'docker.io/docker/dockerfile:1.7',
      'docker/dockerfile:1-labs',
      `docker/dockerfile@sha256:${'a'.repeat(64)}`,
    ]) {
      const r = await convert(`# syntax=${ref}\nFROM scratch\n`);
      assert.equal(r.syntax, ref);
    }
    assert.equal((await convert('FROM scratch\n')).syntax, undefined);
  });

  it('any other frontend image is FRONTEND_UNSUPPORTED at its line, when the converter is called directly', async () => {
    await assert.rejects(
      convert('# escape=`\n# syntax=example.com/my/frontend:2\nFROM scratch\n', { file: 'F' }),
      {
        code: 'FRONTEND_UNSUPPORTED',
        message: /unsupported frontend "example.com\/my\/frontend:2"/,
        hint: /runs it as a gateway frontend/,
        location: { file: 'F', startLine: 2, endLine: 2 },
      },
    );
  });
});

describe('# check=', () => {
  const rules = (r: Awaited<ReturnType<typeof convert>>) => r.warnings.map((w) => w.rule);

  it('skip= drops the named rules, skip=all every lint rule but not the unused build-arg note', async () => {
    assert.deepEqual(rules(await convert(CMD_SHELL)), ['JSONArgsRecommended', 'SecretsUsedInArgOrEnv']);
    assert.deepEqual(rules(await convert(`# check=skip=JSONArgsRecommended\n${CMD_SHELL}`)), [
      'SecretsUsedInArgOrEnv',
    ]);
    const all = await convert(`# check=skip=all\n${CMD_SHELL}`, { buildArgs: { UNUSED: '1' } });
    assert.deepEqual(rules(all), ['UnusedBuildArg']);
    assert.equal(all.lintError, undefined);
  });

  it('error=true turns remaining lint warnings into LINT_VIOLATION naming each rule once', async () => {
    const r = await convert(`# check=error=true\n${CMD_SHELL}CMD also shell\n`, { file: 'D' });
    assert.equal(rules(r).length, 4, 'the warnings are still reported');
    assert.equal(r.lintError?.code, 'LINT_VIOLATION');
    assert.equal(
      r.lintError?.message,
      'lint violation found for rules: JSONArgsRecommended, MultipleInstructionsDisallowed, SecretsUsedInArgOrEnv',
    );
    assert.deepEqual(r.lintError?.location, { file: 'D', startLine: 1, endLine: 1 });
    const skipped = await convert(
      `# check=skip=JSONArgsRecommended,SecretsUsedInArgOrEnv;error=true\n${CMD_SHELL}`,
    );
    assert.equal(skipped.lintError, undefined);
  });

  it('the BUILDKIT_DOCKERFILE_CHECK build arg replaces the directive', async () => {
    const r = await convert(`# check=skip=all\n${CMD_SHELL}`, {
      buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=SecretsUsedInArgOrEnv;error=true' },
    });
    assert.deepEqual(rules(r), ['JSONArgsRecommended']);
    assert.equal(r.lintError?.message, 'lint violation found for rules: JSONArgsRecommended');
  });

  it('a malformed check is DOCKERFILE_INVALID_CHECK', async () => {
    await assert.rejects(convert(`# check=skip\n${CMD_SHELL}`), { code: 'DOCKERFILE_INVALID_CHECK' });
    await assert.rejects(convert(`# check=error=maybe\n${CMD_SHELL}`), {
      code: 'DOCKERFILE_INVALID_CHECK',
      message: /invalid value "maybe"/,
    });
    await assert.rejects(convert(CMD_SHELL, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'fail=1' } }), {
      message: /--build-arg BUILDKIT_DOCKERFILE_CHECK.*invalid check option "fail"/,
    });
  });
});
