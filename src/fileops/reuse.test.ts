import assert from 'node:assert/strict';
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { PrestatStat } from '../context/prestat.ts';
import { linkUnchanged } from './reuse.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A context of `names`, and a donor layer holding them under app/ as copy() leaves them. */
async function setup(names: string[]): Promise<{ src: string; donor: string; target: string }> {
  const d = mkdtempSync(join(tmpdir(), 'kiln-reuse-'));
  dirs.push(d);
  const src = join(d, 'ctx');
  const donor = join(d, 'donor');
  const target = join(d, 'target');
  mkdirSync(join(src, 'sub'), { recursive: true });
  mkdirSync(join(donor, 'app', 'sub'), { recursive: true });
  mkdirSync(target);
  for (const n of names) writeFileSync(join(src, n), `content of ${n}`);
  // The copies are made after the sources: their ctimes are later.
  await new Promise((r) => setTimeout(r, 20));
  for (const n of names) {
    copyFileSync(join(src, n), join(donor, 'app', n));
    const st = statSync(join(src, n));
    utimesSync(join(donor, 'app', n), st.atime, st.mtime);
  }
  return { src, donor, target };
}

/** The reuse of a COPY of the whole context to /app, into `target`. */
function reuse(
  s: { src: string; donor: string },
  target: string,
  known?: (rel: string) => PrestatStat | undefined,
) {
  return linkUnchanged({
    donorDir: s.donor,
    targetDir: target,
    srcDir: s.src,
    srcRel: '',
    destRel: 'app',
    known,
  });
}

function asKnown(p: string): PrestatStat {
  const st = lstatSync(p);
  return { mode: st.mode, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, nlink: st.nlink };
}

describe('linking the unchanged files of a previous COPY', () => {
  it('links what lstat shows unchanged, and copies none that changed', async () => {
    const s = await setup(['a.txt', 'sub/b.txt', 'sub/c.txt']);
    const { src, donor, target } = s;
    writeFileSync(join(src, 'sub/c.txt'), 'content of sub/c.tx!'); // same size, new ctime
    const linked = await reuse(s, target);
    assert.deepEqual([...linked].sort(), ['app/a.txt', 'app/sub/b.txt']);
    assert.equal(statSync(join(target, 'app/a.txt')).ino, statSync(join(donor, 'app/a.txt')).ino);
  });

  it("takes the context walk's numbers where it has them, and lstats the rest", async () => {
    const s = await setup(['a.txt', 'sub/b.txt', 'sub/c.txt']);
    const { src, target } = s;
    const asked: string[] = [];
    const linked = await reuse(s, target, (rel) => {
      asked.push(rel);
      // The walk saw a.txt written after its copy (lstat now would say unchanged), sub/b.txt
      // as it is, and nothing for sub/c.txt.
      if (rel === 'a.txt') return { ...asKnown(join(src, rel)), ctimeMs: Date.now() + 1000 };
      if (rel === 'sub/b.txt') return asKnown(join(src, rel));
      return undefined;
    });
    assert.deepEqual([...linked].sort(), ['app/sub/b.txt', 'app/sub/c.txt']);
    assert.deepEqual(asked.sort(), ['a.txt', 'sub', 'sub/b.txt', 'sub/c.txt']);
    // A size the walk saw differ: not linked either.
    const again = mkdtempSync(join(tmpdir(), 'kiln-reuse-t-'));
    dirs.push(again);
    const none = await reuse(s, again, (rel) =>
      rel === 'sub' ? undefined : { ...asKnown(join(src, rel)), size: 1 },
    );
    assert.deepEqual([...none], []);
  });

  // Enough files for the second thread (file-thread.ts) to take batches beside the main thread.
  const MANY = Array.from({ length: 3000 }, (_, i) => `sub/m${i}.txt`);

  it('links thousands of files, some batches on a second thread, and names every one linked', async () => {
    const s = await setup(MANY);
    const linked = await reuse(s, s.target);
    assert.equal(linked.size, MANY.length);
    for (const n of MANY) {
      assert.ok(linked.has(`app/${n}`), n);
      assert.equal(statSync(join(s.target, 'app', n)).ino, statSync(join(s.donor, 'app', n)).ino, n);
    }
  });

  it('fails when a link cannot be made, with no link made after it returns', async () => {
    const s = await setup(MANY);
    // A name already taken near the end of the walk: that batch fails (EEXIST).
    mkdirSync(join(s.target, 'app', 'sub'), { recursive: true });
    writeFileSync(join(s.target, 'app', 'sub', 'm990.txt'), 'in the way');
    await assert.rejects(reuse(s, s.target), { code: 'EEXIST' });
    const count = () => readdirSync(join(s.target, 'app', 'sub')).length;
    const settled = count();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(count(), settled, 'links were still being made after the reuse returned');
  });
});
