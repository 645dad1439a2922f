import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { ProgressEvent } from './events.ts';
import { createRenderer } from './render.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const T = Date.UTC(2024, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** Run events through the rawjson renderer; every output line must be one JSON object. */
function rawjson(events: ProgressEvent[]) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createRenderer('rawjson', out);
  for (const e of events) r.sink(e);
  r.close();
  assert.ok(text.endsWith('\n'));
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('rawjson: BuildKit SolveStatus lines', () => {
  it('vertexes carry their whole state with BuildKit field names and RFC 3339 times', () => {
    const [started, done, cached, failed, canceled] = rawjson([
      { type: 'vertex', id: B, name: '[2/2] RUN make', status: 'started', at: T, inputs: [A] },
      { type: 'vertex', id: B, name: '[2/2] RUN make', status: 'done', at: T + 1500 },
      { type: 'vertex', id: A, name: '[1/2] FROM x', status: 'cached', at: T + 2 },
      { type: 'vertex', id: A, name: '[1/2] FROM x', status: 'error', at: T + 3, error: 'boom' },
      { type: 'vertex', id: A, name: '[1/2] FROM x', status: 'canceled', at: T + 4 },
    ]);
    assert.deepEqual(started, {
      vertexes: [{ digest: B, inputs: [A], name: '[2/2] RUN make', started: iso(T) }],
    });
    assert.deepEqual(Object.keys(done.vertexes[0]), ['digest', 'inputs', 'name', 'started', 'completed']);
    assert.equal(done.vertexes[0].started, '2024-01-01T12:00:00.000Z');
    assert.equal(done.vertexes[0].completed, '2024-01-01T12:00:01.500Z');
    // A cache hit is started and completed at once, and nothing empty is written (omitempty).
    assert.deepEqual(cached, {
      vertexes: [
        { digest: A, name: '[1/2] FROM x', started: iso(T + 2), completed: iso(T + 2), cached: true },
      ],
    });
    assert.equal(failed.vertexes[0].error, 'boom');
    assert.equal(canceled.vertexes[0].error, 'context canceled');
  });

  it("a cache explanation is a finished status of its step; a hit's goes out with the step", () => {
    const [miss, hit] = rawjson([
      { type: 'vertex', id: A, name: '[2/2] COPY . /app', status: 'started', at: T },
      { type: 'explain', id: A, text: 'cache miss: 1 file changed: a (content)', at: T },
      { type: 'explain', id: B, text: 'cache hit: made by build 0123', at: T },
      { type: 'vertex', id: B, name: '[1/2] FROM busybox', status: 'cached', at: T },
    ]).slice(1);
    const s = { current: 0, timestamp: iso(T), started: iso(T), completed: iso(T) };
    assert.deepEqual(miss, {
      statuses: [{ id: 'cache miss: 1 file changed: a (content)', vertex: A, ...s }],
    });
    assert.equal(hit.vertexes[0].cached, true);
    assert.deepEqual(hit.statuses, [{ id: 'cache hit: made by build 0123', vertex: B, ...s }]);
  });

  it('logs are base64 with BuildKit stream numbers (1 stdout, 2 stderr)', () => {
    const lines = rawjson([
      { type: 'log', id: B, stream: 'stdout', data: 'héllo\n', at: T },
      { type: 'log', id: B, stream: 'stderr', data: 'err', at: T + 1 },
    ]);
    assert.deepEqual(Object.keys(lines[0].logs[0]), ['vertex', 'stream', 'data', 'timestamp']);
    assert.deepEqual(
      lines.map((l) => [l.logs[0].vertex, l.logs[0].stream, unb64(l.logs[0].data), l.logs[0].timestamp]),
      [
        [B, 1, 'héllo\n', iso(T)],
        [B, 2, 'err', iso(T + 1)],
      ],
    );
  });

  it("statuses name their vertex and keep the task's start; ones outside any step are left out", () => {
    const lines = rawjson([
      { type: 'status', id: 'sha256:layer', name: 'pulling', current: 10, total: 100, at: T },
      { type: 'status', id: 'exporting layers', vertex: B, name: '', current: 0, at: T + 10 },
      { type: 'status', id: 'exporting layers', vertex: B, name: '', current: 0, done: true, at: T + 20 },
    ]);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0].statuses[0], {
      id: 'exporting layers',
      vertex: B,
      current: 0,
      timestamp: iso(T + 10),
      started: iso(T + 10),
    });
    assert.deepEqual(Object.keys(lines[1].statuses[0]), [
      'id',
      'vertex',
      'current',
      'timestamp',
      'started',
      'completed',
    ]);
    assert.equal(lines[1].statuses[0].started, iso(T + 10));
    assert.equal(lines[1].statuses[0].completed, iso(T + 20));
  });

  it('warnings: lint level, base64 short form with the line, url, source and range', () => {
    const [line] = rawjson([
      {
        type: 'warning',
        rule: 'UndefinedVar',
        message: "Usage of undefined variable '$X'",
        url: 'https://docs.docker.com/go/dockerfile/rule/undefined-var/',
        vertex: A,
        location: { file: 'Dockerfile', startLine: 2, endLine: 2 },
        source: { filename: 'Dockerfile', data: 'FROM x\nRUN echo $X\n', language: 'Dockerfile' },
        at: T,
      },
    ]);
    const w = line.warnings[0];
    assert.deepEqual(Object.keys(w), ['vertex', 'level', 'short', 'url', 'sourceInfo', 'range']);
    assert.equal(w.vertex, A);
    assert.equal(w.level, 1);
    assert.equal(unb64(w.short), "UndefinedVar: Usage of undefined variable '$X' (line 2)");
    assert.equal(w.url, 'https://docs.docker.com/go/dockerfile/rule/undefined-var/');
    assert.deepEqual(w.sourceInfo, {
      filename: 'Dockerfile',
      data: Buffer.from('FROM x\nRUN echo $X\n').toString('base64'),
      language: 'Dockerfile',
    });
    assert.deepEqual(w.range, [{ start: { line: 2 }, end: { line: 2 } }]);
  });
});

describe('kiln-json', () => {
  it("writes kiln's own events, one per line", () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const r = createRenderer('kiln-json', out);
    const e: ProgressEvent = { type: 'log', id: A, stream: 'stdout', data: 'x', at: 1 };
    r.sink(e);
    assert.deepEqual(JSON.parse(text), e);
  });
});
