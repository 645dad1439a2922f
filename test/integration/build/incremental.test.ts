/**
 * Incremental COPY: a COPY that runs again after some context files changed links the unchanged
 * files from its previous result instead of copying them, and its layer is exactly what a fresh
 * build gives — including for changes that keep a file's size and mtime.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LayerFile } from '../../../src/archive/layer.ts';
import { type Built, buildContext, makeContext, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
let fresh: Suite;
before(async () => {
  suite = await openSuite('incremental');
  fresh = await openSuite('incremental-fresh');
});
after(async () => {
  await suite.close();
  await fresh.close();
});

const DOCKERFILE = 'FROM busybox\nWORKDIR /app\nCOPY . .\nRUN cat same-size.txt\n';

function files(): Record<string, string | { data: string; mode?: number }> {
  const out: Record<string, string | { data: string; mode?: number }> = {
    Dockerfile: DOCKERFILE,
    'same-size.txt': 'before\n',
    'gone.txt': 'deleted later\n',
    'mode.sh': { data: 'echo hi\n', mode: 0o644 },
  };
  for (let i = 0; i < 40; i++) out[`d${i % 4}/f${i}.txt`] = `file ${i}\n`;
  return out;
}

/** The COPY layer's entries by path, without the build-time mtime of /app itself. */
function copyLayer(b: Built): Map<string, Omit<LayerFile, 'xattrs'>> {
  const layer = b.image.layers[b.image.layers.length - 2];
  return new Map(
    layer.map(({ xattrs: _x, ...f }) => [f.path, f.path === 'app' ? { ...f, mtime: 0 } : f] as const),
  );
}

/** Regular files named `name` under the suite's snapshots with more than one link. */
function linkedCopies(s: Suite, name: string): number {
  const out = execFileSync('find', [join(s.root, 'snapshots'), '-name', name, '-type', 'f', '-links', '+1'], {
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean).length;
}

describe('incremental COPY', () => {
  it('links unchanged files, copies changed ones, and makes the layer a fresh build makes', async () => {
    const ctx = await makeContext(suite, files());
    await buildContext(suite, ctx, { tags: ['incremental:1'], noLocal: true });

    // A content change that keeps size and mtime (only ctime shows it), a deletion, an
    // addition, and a mode change.
    const same = join(ctx, 'same-size.txt');
    const { atime, mtime } = statSync(same);
    writeFileSync(same, 'after!\n');
    utimesSync(same, atime, mtime);
    rmSync(join(ctx, 'gone.txt'));
    writeFileSync(join(ctx, 'd1/new.txt'), 'new\n');
    chmodSync(join(ctx, 'mode.sh'), 0o755);

    const again = await buildContext(suite, ctx, { tags: ['incremental:2'], noLocal: true });
    // The linked files' bytes came out of the first build's COPY layer, not the files.
    const exported = again.events.flatMap((e) => (e.type === 'status' ? [e.name] : []));
    assert.ok(
      exported.some((n) => /exporting layer .*, 4\d files' bytes from the previous result's layer/.test(n)),
      exported.join('\n'),
    );
    assert.match(again.logs, /after!/, 'RUN sees the new content of the same-size file');
    assert.ok(linkedCopies(suite, 'f7.txt') >= 1, 'an unchanged file was linked, not copied');
    assert.equal(linkedCopies(suite, 'same-size.txt'), 0, 'the changed file was copied');

    const ref = await buildContext(fresh, ctx, { tags: ['incremental:fresh'], noLocal: true });
    assert.deepEqual(copyLayer(again), copyLayer(ref));
    const layer = copyLayer(again);
    assert.equal(layer.has('app/gone.txt'), false);
    assert.ok(layer.has('app/d1/new.txt'));
    assert.equal(layer.get('app/mode.sh')?.mode, 0o755);
  });
});
