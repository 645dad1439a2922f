import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createRenderer } from './render.ts';

function capture(mode: 'plain' | 'rawjson') {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = createRenderer(mode, out);
  return { r, text: () => text };
}

describe('progress renderers', () => {
  it('plain mode numbers steps and prints output, timings and cached marks like BuildKit', () => {
    const { r, text } = capture('plain');
    r.sink({ type: 'vertex', id: 'a', name: '[1/2] RUN echo hi', status: 'started', at: 1000 });
    r.sink({ type: 'log', id: 'a', stream: 'stdout', data: 'hi\n', at: 1200 });
    r.sink({ type: 'vertex', id: 'a', name: '[1/2] RUN echo hi', status: 'done', at: 1500 });
    r.sink({ type: 'vertex', id: 'b', name: '[2/2] COPY . .', status: 'cached', at: 1600 });
    r.close();
    assert.equal(text(), '#1 [1/2] RUN echo hi\n#1   0.2 hi\n#1 DONE 0.5s\n#2 [2/2] COPY . .\n#2 CACHED\n');
  });

  it('rawjson mode writes one parseable event per line', () => {
    const { r, text } = capture('rawjson');
    r.sink({ type: 'warning', message: 'unused build arg', at: 1 });
    assert.deepEqual(JSON.parse(text()), { type: 'warning', message: 'unused build arg', at: 1 });
  });
});
