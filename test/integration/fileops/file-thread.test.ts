/**
 * The second thread of a COPY of many small files (fileops/file-thread.ts): what it copies comes
 * out as the main thread's copies do (bytes, mode past the umask, setuid, times, attributes,
 * names that are not UTF-8), and a file it cannot copy fails the copy with the error the main
 * thread would give: SOURCE_CHANGED for a source that is not the file the walk saw (a symlink
 * planted there is never followed), the errno otherwise (a full disk's ENOSPC, so errors.ts names
 * it), with nothing written through a planted symlink at the target. Needs root (mounts a tmpfs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isDiskFull } from '../../../src/errors/errors.ts';
import { FileThread } from '../../../src/fileops/file-thread.ts';
import { copyToApp, tempDir } from './helpers.ts';

const DIRS = 12;
const PER_DIR = 250; // 3,000 small files: more than copy.ts's THREAD_MIN
const T = 1_600_000_000;
const A = 1_500_000_000;

const roots: string[] = [];
const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Modes that open(2) alone would not give (the umask, setuid), cycled over the files. */
const MODES = [0o644, 0o664, 0o600, 0o4755, 0o777];

describe('the file thread', () => {
  it('copies files as the main thread does, in a COPY of thousands of small files', async () => {
    const src = tempDir('kiln-thread-src-');
    const dest = tempDir('kiln-thread-dst-');
    roots.push(src, dest);
    for (let d = 0; d < DIRS; d++) {
      mkdirSync(join(src, `d${d}`));
      for (let f = 0; f < PER_DIR; f++) {
        const p = join(src, `d${d}`, `f${f}`);
        writeFileSync(p, `${d}/${f}\n`.repeat(1 + (f % 40)));
        chmodSync(p, MODES[f % MODES.length]);
        utimesSync(p, A + f, T + f);
      }
    }
    // Names from both ends of the walk's order (the thread takes the end), one not UTF-8.
    const odd = Buffer.concat([Buffer.from(join(src, `d${DIRS - 1}`)), Buffer.from('/n\xff', 'latin1')]);
    writeFileSync(odd, 'latin1 name\n');
    for (const rel of ['d0/f3', `d${DIRS - 1}/f7`])
      execFileSync('setfattr', ['-n', 'user.kiln', '-v', rel, join(src, rel)]);
    const before = process.umask(0o077); // a stricter umask than the files' modes
    try {
      await copyToApp(src, dest);
    } finally {
      process.umask(before);
    }
    // Before anything reads it (relatime would move it).
    assert.equal(lstatSync(join(dest, `app/d${DIRS - 1}/f9`)).atimeMs, (A + 9) * 1000);
    for (let d = 0; d < DIRS; d++) {
      for (let f = 0; f < PER_DIR; f++) {
        const p = join(dest, `app/d${d}/f${f}`);
        const s = lstatSync(p);
        assert.equal(readFileSync(p, 'utf8'), `${d}/${f}\n`.repeat(1 + (f % 40)));
        assert.deepEqual(
          [s.mode & 0o7777, s.uid, s.gid, s.mtimeMs],
          [MODES[f % MODES.length], 0, 0, (T + f) * 1000],
          `d${d}/f${f}`,
        );
      }
    }
    const oddTarget = Buffer.concat([
      Buffer.from(join(dest, `app/d${DIRS - 1}`)),
      Buffer.from('/n\xff', 'latin1'),
    ]);
    assert.equal(readFileSync(oddTarget, 'utf8'), 'latin1 name\n');
    for (const rel of ['d0/f3', `d${DIRS - 1}/f7`]) {
      const got = execFileSync('getfattr', ['-n', 'user.kiln', '--only-values', join(dest, 'app', rel)], {
        encoding: 'utf8',
      });
      assert.equal(got, rel);
    }
  });

  it('is ready for a batch only once the thread runs', async () => {
    const thread = await FileThread.start();
    try {
      // A batch sent now would wait for the thread to boot, and its sender for it at the end.
      assert.equal(thread.ready, false);
      await new Promise<void>((resolve) => thread.whenOnline(resolve));
      assert.equal(thread.ready, true);
      let later = false;
      thread.whenOnline(() => (later = true));
      assert.ok(later, 'called at once when the thread runs already');
    } finally {
      await thread.close();
    }
  });

  it('fails a file that is not what the walk saw, or that it cannot write, with the main thread’s errors', async () => {
    const dir = tempDir('kiln-thread-fail-');
    roots.push(dir);
    writeFileSync(join(dir, 'src'), 'bytes\n');
    const st = lstatSync(join(dir, 'src'));
    const file = (src: string, target: string, over: Partial<{ dev: number; ino: number }> = {}) => ({
      src,
      dev: st.dev,
      ino: st.ino,
      target,
      mode: 0o644,
      atime: T,
      mtime: T,
      ...over,
    });
    const thread = await FileThread.start();
    try {
      // Another inode than the walk saw.
      await assert.rejects(thread.copy([file(join(dir, 'src'), join(dir, 'a'), { ino: st.ino + 1 })]), {
        code: 'SOURCE_CHANGED',
      });
      // A symlink planted at the source is not followed, even to the very file.
      symlinkSync(join(dir, 'src'), join(dir, 'planted'));
      await assert.rejects(thread.copy([file(join(dir, 'planted'), join(dir, 'b'))]), {
        code: 'SOURCE_CHANGED',
      });
      // A symlink planted at the target: O_EXCL refuses it, nothing is written where it points.
      symlinkSync(join(dir, 'outside'), join(dir, 'c'));
      await assert.rejects(thread.copy([file(join(dir, 'src'), join(dir, 'c'))]), { code: 'EEXIST' });
      assert.equal(existsSync(join(dir, 'outside')), false);
      // A full disk: the errno's code comes through, as node:fs gives it.
      const small = join(dir, 'small');
      mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
      mounts.push(small);
      writeFileSync(join(dir, 'big'), Buffer.alloc(3 << 20, 1));
      const big = lstatSync(join(dir, 'big'));
      const err = await thread
        .copy([file(join(dir, 'big'), join(small, 'big'), { dev: big.dev, ino: big.ino })])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(isDiskFull(err), `a full disk: ${err}`);
      // The batch after a failed one still runs, and a good file is copied whole.
      await thread.copy([file(join(dir, 'src'), join(dir, 'd'))]);
      assert.equal(readFileSync(join(dir, 'd'), 'utf8'), 'bytes\n');
      assert.equal(lstatSync(join(dir, 'd')).mtimeMs, T * 1000);
    } finally {
      await thread.close();
    }
    await assert.rejects(thread.copy([file(join(dir, 'src'), join(dir, 'e'))]), /stopped/);
  });
});
