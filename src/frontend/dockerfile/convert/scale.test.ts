/**
 * Long Dockerfiles convert in linear time: 20,000 ENV, ARG or LABEL lines took 88 s, 44 s and
 * (at 5,000 LABELs) 26 s when every instruction copied or re-sorted what the stage had so far;
 * and the ENV × RUN product, which BuildKit's format makes quadratic, is capped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RUN_ENV } from './dispatch.ts';
import { convert } from './testing.ts';

const N = 20_000;

async function timed(source: string) {
  const t = performance.now();
  const r = await convert(source);
  return { r, ms: performance.now() - t };
}

describe('conversion scales linearly', () => {
  for (const kind of ['ENV', 'ARG', 'LABEL'] as const) {
    it(`${N} ${kind} lines convert in under 5 s (well under 1 s unloaded)`, { timeout: 60_000 }, async () => {
      let src = 'FROM busybox\n';
      for (let i = 0; i < N; i++) src += `${kind} K${i}=v${i}\n`;
      src += 'RUN echo $K0\n';
      const { r, ms } = await timed(src);
      assert.ok(ms < 5000, `${kind}: ${Math.round(ms)} ms`);
      const cfg = r.config.config ?? {};
      if (kind === 'ENV') {
        assert.equal(cfg.Env?.length, N + 1);
        assert.equal(cfg.Env?.[N], `K${N - 1}=v${N - 1}`);
      }
      if (kind === 'LABEL') {
        const keys = Object.keys(cfg.Labels ?? {});
        assert.equal(keys.length, N);
        assert.deepEqual(keys, [...keys].sort(), 'labels are sorted as Go marshals them');
      }
      assert.equal(r.config.history?.length, 2 + N);
    });
  }

  it('ENV replacing the same variable keeps one entry at its first place', async () => {
    const { r } = await timed(`FROM busybox\nENV A=1 B=2\n${'ENV A=x\n'.repeat(1000)}ENV A=last\n`);
    const env = r.config.config?.Env ?? [];
    assert.deepEqual(
      env.filter((e) => e.startsWith('A=') || e.startsWith('B=')),
      ['A=last', 'B=2'],
    );
  });

  it(`more than ${MAX_RUN_ENV} variables carried by RUN steps in total is DOCKERFILE_TOO_LARGE at the RUN`, async () => {
    let src = 'FROM busybox\n';
    for (let i = 0; i < 3000; i++) src += `ENV K${i}=v\nRUN true\n`;
    await assert.rejects(convert(src), (err: Error & { code?: string; location?: { startLine: number } }) => {
      assert.equal(err.code, 'DOCKERFILE_TOO_LARGE');
      assert.match(err.message, /RUN steps carry more than/);
      assert.ok((err.location?.startLine ?? 0) > 5000, `at line ${err.location?.startLine}`);
      return true;
    });
  });
});
