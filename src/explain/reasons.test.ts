import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missReason, positionOf } from './reasons.ts';
import type { StepRecord } from './records.ts';

const rec = (over: Partial<StepRecord> = {}): StepRecord => ({
  name: '[app 3/4] COPY src/ /app/',
  key: 'k1',
  op: 'op1',
  inputs: [
    { name: '[app 2/4] RUN npm ci', key: 'in1' },
    { name: '[internal] load build context', key: 'ctx1', dir: true },
  ],
  files: { 'src/a.js': 'file 644 sha256:a', 'src/b.js': 'file 644 sha256:b' },
  build: 'b0b0b0b0b0b0b0b0',
  at: 1,
  ...over,
});

describe('why a step missed the cache', () => {
  it('says --no-cache before anything, and that a first build had nothing to compare', () => {
    assert.equal(missReason(rec(), rec({ key: 'k2' }), { ignored: '--no-cache' }), '--no-cache');
    assert.equal(missReason(undefined, rec()), 'no earlier record of this step');
  });

  it('an unchanged key that missed was pruned', () => {
    assert.match(missReason(rec(), rec()), /^cache pruned: the result build b0b0b0b0b0b0 made was removed$/);
  });

  it('a base image resolved to another digest names both', () => {
    const a = rec({
      name: '[1/2] FROM r.io/x:1@sha256:aaa',
      image: 'r.io/x:1@sha256:aaa',
      op: 'o1',
      inputs: [],
    });
    const b = rec({
      name: '[1/2] FROM r.io/x:1@sha256:bbb',
      image: 'r.io/x:1@sha256:bbb',
      op: 'o2',
      inputs: [],
      key: 'k2',
    });
    assert.equal(
      missReason(a, b),
      'FROM r.io/x:1 — the registry now resolves r.io/x:1 to sha256:bbb (was sha256:aaa)',
    );
  });

  it('a changed build arg beats the text it expanded into; ENV is told apart', () => {
    const a = rec({ name: '[2/2] RUN echo 1.2', op: 'o1', env: { V: '1.2', P: '/bin' }, argNames: ['V'] });
    const b = rec({
      name: '[2/2] RUN echo 1.3',
      op: 'o2',
      env: { V: '1.3', P: '/usr/bin' },
      argNames: ['V'],
      key: 'k2',
    });
    assert.equal(missReason(a, b), 'ENV P changed: /bin → /usr/bin; ARG V changed: 1.2 → 1.3');
    assert.equal(
      missReason(rec({ op: 'o1' }), rec({ name: '[app 3/4] COPY lib/ /app/', op: 'o2', key: 'k2' })),
      'instruction changed: COPY lib/ /app/ (was: COPY src/ /app/)',
    );
  });

  it("the step's own files come before its inputs, listing five and counting the rest", () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 8; i++) files[`f${i}`] = 'file 644 sha256:x';
    const b = rec({ key: 'k2', files, inputs: [{ name: '[app 2/4] RUN npm ci', key: 'in2' }] });
    assert.equal(
      missReason(rec(), b),
      '10 files changed: f0 (new), f1 (new), f2 (new), f3 (new), f4 (new), and 5 more',
    );
    assert.equal(
      missReason(rec(), rec({ key: 'k2', inputs: [{ name: '[app 2/4] RUN npm ci', key: 'in2' }] })),
      'its input changed: RUN npm ci (step 2)',
    );
    assert.equal(
      missReason(rec(), rec({ key: 'k2', inputs: [{ name: '[build 5/5] RUN make', key: 'in2' }] })),
      'its input changed: RUN make (stage build, step 5)',
    );
    const multi = rec({ name: '[linux/arm64 app 3/4] COPY src/ /app/', key: 'k2', inputs: [] });
    const input = (name: string) => ({ ...multi, inputs: [{ name, key: 'in2' }] });
    const before = (name: string) => ({ ...multi, key: 'k1', inputs: [{ name, key: 'in1' }] });
    const other = '[linux/arm64 build 5/5] RUN make';
    const same = '[linux/arm64 app 2/4] RUN npm ci';
    assert.equal(
      missReason(before(other), input(other)),
      'its input changed: RUN make (stage build, step 5)',
    );
    assert.equal(missReason(before(same), input(same)), 'its input changed: RUN npm ci (step 2)');
  });

  it('a COPY --from keyed by content says the files it copies changed', () => {
    const copy = (key: string, content: string) =>
      rec({
        name: '[app 3/4] COPY --from=build /out /out',
        key,
        inputs: [{ name: '[build 2/2] RUN make', key: content }],
      });
    assert.equal(
      missReason(copy('k1', 'content:sha256:a'), copy('k2', 'content:sha256:b')),
      'the files it copies from RUN make (stage build, step 2) changed',
    );
  });

  it('content, mode and type changes; a file gone but still on disk was excluded', () => {
    const b = rec({
      key: 'k2',
      files: { 'src/a.js': 'file 755 sha256:a', 'src/c': 'symlink 777 a.js' },
      excludes: 'sha256:ig',
    });
    assert.equal(
      missReason(rec({ files: { ...rec().files, 'src/c': 'file 644 sha256:c' } }), b, {
        exists: (p) => p === 'src/b.js',
      }),
      '3 files changed (.dockerignore changed): src/a.js (mode), src/b.js (newly excluded), src/c (type)',
    );
  });

  it('too many files to list compare by digest', () => {
    const a = rec({ files: {}, filesTotal: 5000, filesDigest: 'sha256:1' });
    const b = rec({ key: 'k2', files: {}, filesTotal: 5001, filesDigest: 'sha256:2' });
    assert.equal(missReason(a, b), 'the files it reads changed (5001 files, too many to compare)');
  });

  it('the position of a step is its bracket', () => {
    assert.equal(positionOf('[linux/arm64 build 2/4] RUN make'), '[linux/arm64 build 2/4]');
    assert.equal(positionOf('[internal] load build context'), undefined);
  });
});
