import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createRenderer } from './render.ts';

function tty() {
  const out = Object.assign(new PassThrough(), { isTTY: true, columns: 60, rows: 30 });
  let text = '';
  out.on('data', (d) => (text += d));
  return { r: createRenderer('auto', out), text: () => text };
}

describe('tty progress (BuildKit --progress=tty)', () => {
  it('shows why a step missed the cache as a line under the step', () => {
    const { r, text } = tty();
    const at = Date.now();
    r.sink({ type: 'vertex', id: 'c', name: '[2/2] COPY . /app', status: 'started', at });
    r.sink({ type: 'explain', id: 'c', text: 'cache miss: 1 file changed: a.js (content)', at });
    r.sink({ type: 'vertex', id: 'c', name: '[2/2] COPY . /app', status: 'done', at });
    r.close();
    const last = text().split('[+] Building').at(-1) ?? '';
    assert.match(
      last,
      /=> \[2\/2\] COPY \. \/app +0\.0s\n => => cache miss: 1 file changed: a\.js \(content\) *\n/,
    );
  });

  it('ends with every step, its statuses and marks, then the error summary', () => {
    const { r, text } = tty();
    const at = Date.now();
    r.sink({
      type: 'vertex',
      id: 'd',
      name: '[internal] load build definition from Dockerfile',
      status: 'started',
      at,
    });
    r.sink({
      type: 'status',
      id: 'transferring dockerfile:',
      vertex: 'd',
      name: '',
      current: 87,
      done: true,
      at,
    });
    r.sink({
      type: 'vertex',
      id: 'd',
      name: '[internal] load build definition from Dockerfile',
      status: 'done',
      at,
    });
    r.sink({ type: 'vertex', id: 'f', name: '[1/2] FROM busybox', status: 'cached', at });
    r.sink({ type: 'vertex', id: 'r', name: '[2/2] RUN make', status: 'started', at });
    r.sink({ type: 'log', id: 'r', stream: 'stderr', data: 'cc: error\n', at });
    r.sink({
      type: 'vertex',
      id: 'r',
      name: '[2/2] RUN make',
      status: 'error',
      at: at + 2000,
      error: 'exit 1',
    });
    r.close();
    const final = text().slice(text().lastIndexOf('[+] Building'));
    const lines = final.split('\n');
    assert.match(lines[0], /^\[\+\] Building \d+\.\ds \(3\/3\) FINISHED\s*$/);
    assert.match(lines[1], /^ => \[internal\] load build definition from Dockerfile\s+0\.0s$/);
    assert.match(lines[2], /^ => => transferring dockerfile: 87B\s+0\.0s$/);
    assert.match(lines[3], /^ => CACHED \[1\/2\] FROM busybox\s+0\.0s$/);
    assert.match(lines[4], /^ => ERROR \[2\/2\] RUN make\s+2\.0s$/);
    assert.equal(lines[1].length, 59, 'lines fill the terminal width but its last column');
    assert.ok(final.endsWith('------\n > [2/2] RUN make:\n0.000 cc: error\n------\n'), final);
  });

  it("shows a running step's last output lines under it, control characters made visible", () => {
    const { r, text } = tty();
    const at = Date.now();
    r.sink({ type: 'vertex', id: 'r', name: '[2/2] RUN\tmake', status: 'started', at });
    for (let i = 1; i <= 8; i++) r.sink({ type: 'log', id: 'r', stream: 'stdout', data: `line ${i}\n`, at });
    r.sink({ type: 'log', id: 'r', stream: 'stdout', data: 'title \x1b]0;pwned\x07 set\n', at });
    r.close();
    const lines = text().split('\n');
    assert.match(lines[1], /^ => \[2\/2\] RUN make\s+\d+\.\ds$/);
    assert.deepEqual(lines.slice(2, 8), [
      ' => => # line 4',
      ' => => # line 5',
      ' => => # line 6',
      ' => => # line 7',
      ' => => # line 8',
      ' => => # title ?]0;pwned? set',
    ]);
    assert.doesNotMatch(text(), /\x1b\]/);
  });
});
