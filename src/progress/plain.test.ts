import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { ProgressEvent, VertexEvent } from './events.ts';
import { createRenderer } from './render.ts';

const T = 1_700_000_000_000;

function plain(opts = {}) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createRenderer('plain', out, opts);
  return { r, text: () => text };
}

const v = (
  id: string,
  name: string,
  status: VertexEvent['status'],
  at: number,
  error?: string,
): ProgressEvent => ({
  type: 'vertex',
  id,
  name,
  status,
  at,
  error,
});
const log = (
  id: string,
  data: string,
  at: number,
  stream: 'stdout' | 'stderr' = 'stdout',
): ProgressEvent => ({
  type: 'log',
  id,
  stream,
  data,
  at,
});

describe('plain progress (BuildKit --progress=plain)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T }));
  afterEach(() => mock.timers.reset());

  it('shows why a step missed the cache on one line under its header', () => {
    const { r, text } = plain();
    r.sink(v('a', '[2/2] COPY . /app', 'started', T));
    r.sink({ type: 'explain', id: 'a', text: 'cache miss: 1 file changed: a.js (content)', at: T });
    r.sink(v('a', '[2/2] COPY . /app', 'done', T + 100));
    r.close();
    assert.equal(
      text(),
      '#1 [2/2] COPY . /app\n#1 cache miss: 1 file changed: a.js (content)\n#1 DONE 0.1s\n',
    );
  });

  it("a hit's explanation (given before the step) is shown above CACHED", () => {
    const { r, text } = plain();
    r.sink({ type: 'explain', id: 'b', text: 'cache hit: made by build 0123', at: T });
    r.sink(v('b', '[1/2] FROM busybox', 'cached', T));
    r.close();
    assert.equal(text(), '#1 [1/2] FROM busybox\n#1 cache hit: made by build 0123\n#1 CACHED\n');
  });

  it('numbers steps in the order shown, one block each, with output times, DONE and CACHED', () => {
    const { r, text } = plain();
    r.sink(v('a', '[1/2] FROM docker.io/library/busybox:latest@sha256:abc', 'cached', T));
    r.sink(v('b', '[2/2] RUN echo hi', 'started', T + 100));
    r.sink(log('b', 'hi\n', T + 300));
    r.sink(log('b', 'x'.repeat(3), T + 12_500));
    r.sink(v('b', '[2/2] RUN echo hi', 'done', T + 12_600));
    r.close();
    assert.equal(
      text(),
      '#1 [1/2] FROM docker.io/library/busybox:latest@sha256:abc\n#1 CACHED\n\n' +
        '#2 [2/2] RUN echo hi\n#2 0.200 hi\n#2 12.40 xxx\n#2 DONE 12.5s\n',
    );
  });

  it('a failing step: its output in its block, the error, then the summary with its last lines', () => {
    const { r, text } = plain();
    r.sink(v('a', '[2/3] RUN make', 'started', T));
    r.sink(log('a', 'compiling\n', T + 10));
    r.sink(log('a', 'fatal: ', T + 20, 'stderr'));
    r.sink(log('a', 'no such file\n', T + 21, 'stderr'));
    r.sink(v('a', '[2/3] RUN make', 'error', T + 30, 'process "/bin/sh -c make" exited with code 2'));
    r.sink(v('b', '[3/3] RUN other', 'canceled', T + 31));
    r.close();
    assert.equal(
      text(),
      '#1 [2/3] RUN make\n#1 0.010 compiling\n#1 0.020 fatal: no such file\n' +
        '#1 ERROR: process "/bin/sh -c make" exited with code 2\n\n' +
        '#2 [3/3] RUN other\n#2 CANCELED\n' +
        '------\n > [2/3] RUN make:\n0.010 compiling\n0.020 fatal: no such file\n------\n',
    );
  });

  it('the summary repeats only the last ten lines of a failed step', () => {
    const { r, text } = plain();
    r.sink(v('a', 'RUN loop', 'started', T));
    for (let i = 1; i <= 15; i++) r.sink(log('a', `line${i}\n`, T));
    r.sink(v('a', 'RUN loop', 'error', T, 'failed'));
    r.close();
    const summary = text().slice(text().indexOf('------'));
    assert.equal(summary.match(/^0\.000 line/gm)?.length, 10);
    assert.match(summary, /^0\.000 line6\n/m);
    assert.doesNotMatch(summary, /^0\.000 line5\n/m);
  });

  it('a partial line is shown after a pause, and at the end of its step', () => {
    const { r, text } = plain({ pauseMs: 1000 });
    r.sink(v('a', 'RUN prompt', 'started', T));
    r.sink(log('a', 'Continue? ', T));
    assert.equal(text(), '#1 RUN prompt\n');
    mock.timers.tick(1000);
    assert.equal(text(), '#1 RUN prompt\n#1 0.000 Continue? \n');
    r.sink(log('a', 'no newline at the end', T + 1500));
    r.sink(v('a', 'RUN prompt', 'done', T + 1600));
    assert.match(text(), /#1 1\.500 no newline at the end\n#1 DONE 1\.6s\n$/);
  });

  it('steps running at once do not interleave: one waits until the open one ends, then shows', () => {
    const { r, text } = plain();
    r.sink(v('a', '[a 2/2] RUN slow', 'started', T));
    r.sink(v('b', '[b 2/2] RUN fast', 'started', T + 1));
    r.sink(log('a', 'a1\n', T + 2));
    r.sink(log('b', 'b1\n', T + 3));
    r.sink(log('a', 'a2\n', T + 4));
    assert.equal(text(), '#1 [a 2/2] RUN slow\n#1 0.002 a1\n#1 0.004 a2\n');
    r.sink(v('a', '[a 2/2] RUN slow', 'done', T + 5));
    assert.equal(
      text(),
      '#1 [a 2/2] RUN slow\n#1 0.002 a1\n#1 0.004 a2\n#1 DONE 0.0s\n\n#2 [b 2/2] RUN fast\n#2 0.002 b1\n',
    );
    r.close();
  });

  it('a step that finishes while another is open is shown at once; the open one resumes after it', () => {
    const { r, text } = plain();
    r.sink(v('a', 'RUN long', 'started', T));
    r.sink(v('b', 'COPY quick', 'started', T + 1));
    r.sink(v('b', 'COPY quick', 'done', T + 101));
    r.sink(log('a', 'still going\n', T + 200));
    assert.equal(
      text(),
      '#1 RUN long\n#1 ...\n\n#2 COPY quick\n#2 DONE 0.1s\n\n#1 RUN long\n#1 0.200 still going\n',
    );
    r.close();
  });

  it('a step kept waiting with output is shown after a while', () => {
    const { r, text } = plain();
    r.sink(v('a', 'RUN quiet', 'started', T));
    r.sink(v('b', 'RUN chatty', 'started', T));
    r.sink(log('b', 'hello\n', T));
    assert.equal(text(), '#1 RUN quiet\n');
    mock.timers.tick(5000);
    assert.equal(text(), '#1 RUN quiet\n#1 ...\n\n#2 RUN chatty\n#2 0.000 hello\n');
    r.close();
  });

  it('a step kept waiting is shown at once when its held output grows past 1 MiB', () => {
    const { r, text } = plain();
    r.sink(v('a', 'RUN quiet', 'started', T));
    r.sink(v('b', 'RUN flood', 'started', T));
    const line = `${'y'.repeat(1018)}\n`; // 1 KiB with the time before it
    for (let i = 0; i < 1024; i++) r.sink(log('b', line, T));
    assert.equal(text(), '#1 RUN quiet\n', 'a MiB is held');
    r.sink(log('b', line, T));
    assert.match(text(), /^#1 RUN quiet\n#1 \.\.\.\n\n#2 RUN flood\n(#2 0\.000 y{1018}\n){1025}$/);
    r.close();
  });

  it('statuses: byte counts in decimal units, time once over 10 ms, done', () => {
    const { r, text } = plain();
    r.sink(v('x', 'exporting to image', 'started', T));
    const s = { type: 'status', vertex: 'x', name: '' } as const;
    r.sink({ ...s, id: 'transferring context:', current: 52_330_000, started: T, done: true, at: T + 500 });
    r.sink({ ...s, id: 'sha256:abc', current: 1_200_000, total: 2_100_000, at: T });
    r.sink({ ...s, id: 'sha256:abc', current: 1_250_000, total: 2_100_000, at: T + 100 }); // under 5%: skipped
    r.sink({ ...s, id: 'sha256:abc', current: 2_100_000, total: 2_100_000, done: true, at: T + 300 });
    r.sink({ ...s, id: 'writing image sha256:def', current: 0, started: T + 1, done: true, at: T + 5 });
    r.sink(v('x', 'exporting to image', 'done', T + 600));
    r.close();
    assert.equal(
      text(),
      '#1 exporting to image\n#1 transferring context: 52.33MB 0.5s done\n' +
        '#1 sha256:abc 1.20MB / 2.10MB\n#1 sha256:abc 2.10MB / 2.10MB 0.3s done\n' +
        '#1 writing image sha256:def done\n#1 DONE 0.6s\n',
    );
  });

  it("warnings: under their step while it runs, and buildx's summary at the end", () => {
    const { r, text } = plain();
    r.sink(v('d', '[internal] load build definition from Dockerfile', 'started', T));
    r.sink({
      type: 'warning',
      rule: 'JSONArgsRecommended',
      message: 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
      url: 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
      vertex: 'd',
      location: { file: 'Dockerfile', startLine: 3, endLine: 3 },
      at: T,
    });
    r.sink(v('d', '[internal] load build definition from Dockerfile', 'done', T));
    r.close();
    const short =
      'JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)';
    assert.equal(
      text(),
      `#1 [internal] load build definition from Dockerfile\n#1 WARN: ${short}\n#1 DONE 0.0s\n` +
        `\n 1 warning found (use kiln --debug to expand):\n - ${short}\n`,
    );
  });

  it('with --debug the summary expands a warning with its link and the lines it points at', () => {
    const { r, text } = plain({ debug: true });
    for (const line of [2, 3])
      r.sink({
        type: 'warning',
        rule: 'UndefinedVar',
        message: "Usage of undefined variable '$X'",
        url: 'https://docs.docker.com/go/dockerfile/rule/undefined-var/',
        location: { file: 'Dockerfile', startLine: line, endLine: line },
        source: { filename: 'Dockerfile', data: 'FROM busybox\nRUN echo $X\nRUN echo $X\n' },
        at: T,
      });
    r.close();
    assert.match(
      text(),
      /^\n 2 warnings found:\n - UndefinedVar: Usage of undefined variable '\$X' \(line 2\)\n/,
    );
    assert.ok(
      text().includes(
        'More info: https://docs.docker.com/go/dockerfile/rule/undefined-var/\nDockerfile:2\n' +
          '--------------------\n   1 |     FROM busybox\n   2 | >>> RUN echo $X\n   3 |     RUN echo $X\n',
      ),
      text(),
    );
  });
});
