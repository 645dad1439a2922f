/**
 * The snapshotter conformance suite (containerd-style): the same behaviours checked against
 * every implementation. Each driver's test file calls `snapshotterConformance` with an opener.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLayer } from '../../../src/archive/layer.ts';
import { collectEntries } from '../../../src/archive/tree-entries.ts';
import { hasCode } from '../../../src/errors/errors.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { lstat, readdir } from '../../../src/sys/fs.ts';
import { encodeName } from '../../../src/sys/fsname.ts';

export type Opener = (root: string) => Promise<Snapshotter>;

/**
 * A snapshot's tree as "path type mode uid:gid [content|target]" lines, read through a mount. Names
 * are read as bytes (a name that is not UTF-8 shows its escapes, sys/fsname.ts).
 */
export async function tree(snap: Snapshotter, key: string): Promise<string[]> {
  return snap.withMounted(key, async (dir) => {
    const out: string[] = [];
    const walk = async (rel: string) => {
      for (const name of (await readdir(path.join(dir, rel))).sort()) {
        const r = rel ? `${rel}/${name}` : name;
        const abs = path.join(dir, r);
        const st = await lstat(abs);
        const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
        if (st.isDirectory()) {
          out.push(`${r}/ ${meta}`);
          await walk(r);
        } else if (st.isSymbolicLink())
          out.push(`${r} -> ${(await fs.readlink(encodeName(abs), { encoding: 'buffer' })).toString('hex')}`);
        else out.push(`${r} ${meta} ${await fs.readFile(encodeName(abs), 'utf8')}`);
      }
    };
    await walk('');
    return out;
  });
}

/** The tree of a committed snapshot, through a temporary view. */
async function committedTree(snap: Snapshotter, name: string): Promise<string[]> {
  const key = `view-of-${name}-${Math.random()}`;
  await snap.view(key, name);
  try {
    return await tree(snap, key);
  } finally {
    await snap.remove(key);
  }
}

/** Write files into an active snapshot: path → content, or null to delete (recursively). */
async function edit(snap: Snapshotter, key: string, changes: Record<string, string | null>): Promise<void> {
  await snap.withMounted(key, async (dir) => {
    for (const [p, content] of Object.entries(changes)) {
      const abs = path.join(dir, p);
      if (content === null) await fs.rm(abs, { recursive: true });
      else if (p.endsWith('/')) await fs.mkdir(abs, { recursive: true });
      else {
        await fs.mkdir(path.dirname(abs), { recursive: true });
        await fs.writeFile(abs, content);
      }
    }
  });
}

/** Prepare `key` over `parent`, apply `changes`, commit as `name`. */
async function layer(
  snap: Snapshotter,
  name: string,
  parent: string | undefined,
  changes: Record<string, string | null>,
) {
  await snap.prepare(`${name}-active`, parent);
  await edit(snap, `${name}-active`, changes);
  await snap.commit(name, `${name}-active`);
}

async function diffPaths(snap: Snapshotter, key: string): Promise<string[]> {
  return (await collectEntries(await snap.diff(key)))
    .map((e) => `${e.header.path}${e.header.type === 'directory' ? '/' : ''}`)
    .sort();
}

export function snapshotterConformance(
  driver: string,
  open: Opener,
  opts: { rootSuffix?: string } = {},
): void {
  describe(`snapshotter conformance: ${driver}`, () => {
    let tmp: string;
    let root: string;
    let snap: Snapshotter;

    before(async () => {
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), `kiln-snap-${driver}-`));
      root = path.join(tmp, opts.rootSuffix ?? 'root');
      snap = await open(root);
      assert.equal(snap.driver, driver);
    });

    after(async () => {
      await fs.rm(tmp, { recursive: true, force: true });
    });

    it('files written in an active snapshot appear in it and not in its parent', async () => {
      await layer(snap, 'p1', undefined, { 'a.txt': 'A', 'dir/b.txt': 'B' });
      await snap.prepare('c1', 'p1');
      await edit(snap, 'c1', { 'new.txt': 'N', 'dir/b.txt': 'B2' });
      const child = await tree(snap, 'c1');
      assert.ok(child.includes('new.txt 644 0:0 N'));
      assert.ok(child.includes('dir/b.txt 644 0:0 B2'));
      assert.ok(child.includes('a.txt 644 0:0 A'));
      const parent = await committedTree(snap, 'p1');
      assert.deepEqual(parent, ['a.txt 644 0:0 A', 'dir/ 755 0:0', 'dir/b.txt 644 0:0 B']);
      assert.deepEqual((await snap.stat('c1')).kind, 'active');
    });

    it('commit then prepare: a child sees its parent files and its own', async () => {
      await snap.commit('c1-done', 'c1');
      await assert.rejects(snap.stat('c1'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      await snap.prepare('c2', 'c1-done');
      assert.deepEqual(await tree(snap, 'c2'), [
        'a.txt 644 0:0 A',
        'dir/ 755 0:0',
        'dir/b.txt 644 0:0 B2',
        'new.txt 644 0:0 N',
      ]);
      assert.equal((await snap.stat('c1-done')).parent, 'p1');
      await snap.remove('c2');
    });

    it('the diff holds new and changed files, and a deletion as a whiteout', async () => {
      await layer(snap, 'd0', undefined, { 'keep.txt': 'k', 'gone.txt': 'g', 'sub/x.txt': 'x' });
      await snap.prepare('d1', 'd0');
      await edit(snap, 'd1', { 'gone.txt': null, 'sub/x.txt': 'changed', 'added.txt': 'a' });
      const paths = await diffPaths(snap, 'd1');
      assert.ok(paths.includes('.wh.gone.txt'), paths.join(' '));
      assert.ok(paths.includes('sub/x.txt'));
      assert.ok(paths.includes('added.txt'));
      assert.ok(!paths.includes('keep.txt'));
    });

    it('a base snapshot diffs as all its files', async () => {
      assert.deepEqual(await diffPaths(snap, 'd0'), ['gone.txt', 'keep.txt', 'sub/', 'sub/x.txt']);
    });

    it('a directory replaced in a child hides all of the parent directory', async () => {
      await layer(snap, 'o0', undefined, { 'dir/old1': '1', 'dir/old2': '2', other: 'o' });
      await snap.prepare('o1', 'o0');
      await edit(snap, 'o1', { dir: null });
      await edit(snap, 'o1', { 'dir/fresh': 'f' });
      assert.deepEqual(await tree(snap, 'o1'), ['dir/ 755 0:0', 'dir/fresh 644 0:0 f', 'other 644 0:0 o']);
      const paths = await diffPaths(snap, 'o1');
      // Either an opaque marker or a whiteout per old entry; both mean "nothing of the old dir".
      const hidesOld =
        paths.includes('dir/.wh..wh..opq') ||
        (paths.includes('dir/.wh.old1') && paths.includes('dir/.wh.old2'));
      assert.ok(hidesOld, paths.join(' '));
      assert.ok(paths.includes('dir/fresh'));
    });

    it('a diff applied to the parent as a new snapshot reproduces the child', async () => {
      await snap.commit('o1-done', 'o1');
      for (const child of ['d1', 'o1-done']) {
        const parent = (await snap.stat(child)).parent!;
        const { stream, info } = createLayer(await snap.diff(child), { compression: 'gzip' });
        const applied = await snap.applyLayerAsSnapshot(parent, stream, `${child}-applied`);
        assert.equal(applied.kind, 'committed');
        assert.equal(applied.labels['kiln.diff-id'], (await info).diffID);
        const want = child === 'd1' ? await tree(snap, 'd1') : await committedTree(snap, child);
        assert.deepEqual(await committedTree(snap, `${child}-applied`), want);
      }
    });

    it('names that are not UTF-8 survive the diff (a deletion too), a layer, its application and usage', async () => {
      const at = (dir: string, name: string) => encodeName(path.join(dir, name));
      await snap.prepare('nu0-active', 'p1');
      await snap.withMounted('nu0-active', async (dir) => {
        await fs.writeFile(at(dir, 'old\udcfb'), 'old');
        await fs.mkdir(at(dir, 'keep\udcfa'));
      });
      await snap.commit('nu0', 'nu0-active');
      await snap.prepare('nu1', 'nu0');
      await snap.withMounted('nu1', async (dir) => {
        await fs.rm(at(dir, 'old\udcfb'));
        await fs.mkdir(at(dir, '\udcff\udcfe'));
        await fs.writeFile(at(dir, '\udcff\udcfe/caf\udce9'), 'latin1');
        await fs.writeFile(at(dir, 'x\ufffd'), 'lookalike');
        await fs.symlink(encodeName('t\udcfe\udcff'), at(dir, 'lnk\udcfd'));
        await fs.writeFile(at(dir, 'keep\udcfa/new\udc80'), 'n');
      });
      const paths = await diffPaths(snap, 'nu1');
      for (const p of [
        '.wh.old\udcfb',
        '\udcff\udcfe/',
        '\udcff\udcfe/caf\udce9',
        'x\ufffd',
        'lnk\udcfd',
        'keep\udcfa/',
        'keep\udcfa/new\udc80',
      ])
        assert.ok(paths.includes(p), `${JSON.stringify(p)} in ${JSON.stringify(paths)}`);
      const link = (await collectEntries(await snap.diff('nu1'))).find((e) => e.header.path === 'lnk\udcfd');
      assert.equal(link?.header.linkname, 't\udcfe\udcff');
      await snap.commit('nu1-done', 'nu1');
      const { stream } = createLayer(await snap.diff('nu1-done'), { compression: 'gzip' });
      await snap.applyLayerAsSnapshot('nu0', stream, 'nu1-applied');
      const want = await committedTree(snap, 'nu1-done');
      assert.ok(want.includes('\udcff\udcfe/caf\udce9 644 0:0 latin1'), want.join('\n'));
      assert.ok(!want.some((l) => l.startsWith('old')), 'the whiteout hides old\\xfb');
      assert.deepEqual(await committedTree(snap, 'nu1-applied'), want);
      assert.ok((await snap.usage('nu1-done')).inodes >= 5);
    });

    it('a 60-layer chain shows every layer, with deletions', async () => {
      let parent: string | undefined;
      for (let i = 0; i < 60; i++) {
        const changes: Record<string, string | null> = { [`f${i}`]: String(i) };
        if (i === 30) changes.f10 = null;
        await layer(snap, `chain-${i}`, parent, changes);
        parent = `chain-${i}`;
      }
      await snap.prepare('chain-top', parent);
      const files = (await tree(snap, 'chain-top')).map((l) => l.split(' ')[0]);
      assert.equal(files.length, 59);
      assert.ok(!files.includes('f10'));
      assert.ok(files.includes('f0') && files.includes('f59'));
    });

    it('remove refuses a parent with children, then removes leaf first', async () => {
      await assert.rejects(snap.remove('chain-58'), (e) => hasCode(e, 'SNAPSHOT_IN_USE'));
      await snap.remove('chain-top');
      await snap.remove('chain-59');
      await snap.remove('chain-58');
      await assert.rejects(snap.stat('chain-58'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      assert.equal((await snap.stat('chain-57')).kind, 'committed');
    });

    it('rejects duplicate keys, children of active snapshots, and mounting committed ones', async () => {
      await assert.rejects(snap.prepare('p1'), (e) => hasCode(e, 'SNAPSHOT_EXISTS'));
      await snap.prepare('act');
      await assert.rejects(snap.prepare('act-child', 'act'), (e) =>
        hasCode(e, 'SNAPSHOT_PARENT_NOT_COMMITTED'),
      );
      await assert.rejects(snap.mounts('p1'), (e) => hasCode(e, 'SNAPSHOT_NOT_MOUNTABLE'));
      await assert.rejects(snap.prepare('x', 'no-such'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      await snap.remove('act');
    });

    it('latest() names the snapshot committed last under a lineage, while it is there', async () => {
      const lineage = 'step-1 on p1';
      assert.equal(await snap.latest(lineage), undefined);
      await snap.prepare('lin-a-active', 'p1');
      await snap.commit('lin-a', 'lin-a-active', { lineage });
      assert.equal((await snap.latest(lineage))?.key, 'lin-a');
      await snap.prepare('lin-b-active', 'p1');
      await snap.commit('lin-b', 'lin-b-active', { lineage, labels: { x: 'y' } });
      const b = await snap.latest(lineage);
      assert.deepEqual([b?.key, b?.parent, b?.labels.x], ['lin-b', 'p1', 'y']);
      assert.equal(await snap.latest('another lineage'), undefined);
      // Removing the older one leaves the name; removing the one named takes it away.
      await snap.remove('lin-a');
      assert.equal((await snap.latest(lineage))?.key, 'lin-b');
      await snap.remove('lin-b');
      assert.equal(await snap.latest(lineage), undefined);
      // A name left pointing at a snapshot of another lineage (planted) finds nothing.
      await snap.prepare('lin-c-active', 'p1');
      await snap.commit('lin-c', 'lin-c-active', { lineage: 'other' });
      const dir = path.join(root, 'latest');
      const [name] = (await fs.readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n));
      const planted = path.join(dir, createHash('sha256').update(lineage).digest('hex'));
      await fs.copyFile(path.join(dir, name), planted);
      assert.equal(await snap.latest(lineage), undefined);
      await snap.remove('lin-c');
    });

    it('a view shows its parent', async () => {
      await snap.view('v1', 'p1');
      assert.equal((await snap.stat('v1')).kind, 'view');
      assert.deepEqual(await tree(snap, 'v1'), ['a.txt 644 0:0 A', 'dir/ 755 0:0', 'dir/b.txt 644 0:0 B']);
      await snap.remove('v1');
    });

    it('usage counts the snapshot own files', async () => {
      await layer(snap, 'u1', 'p1', { big: 'x'.repeat(100_000) });
      const u = await snap.usage('u1');
      assert.ok(u.size >= 100_000, String(u.size));
      assert.ok(u.inodes >= 2);
    });

    it('withMounted unmounts also when the callback throws', async () => {
      await snap.prepare('wm', 'p1');
      await assert.rejects(
        snap.withMounted('wm', async () => {
          throw new Error('boom');
        }),
        /boom/,
      );
      const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8');
      assert.ok(!mounts.includes(path.join(root, 'mounts')));
      await snap.remove('wm');
    });

    it('state survives a restart, and a killed process leaves no active snapshots behind', async () => {
      // A separate process prepares a snapshot and is killed before it commits.
      const script = `
        const { ${driver === 'overlay' ? 'OverlaySnapshotter: S' : 'NativeSnapshotter: S'} } = await import(${JSON.stringify(
          path.resolve(import.meta.dirname, `../../../src/snapshot/${driver}/${driver}.ts`),
        )});
        const s = await S.open(${JSON.stringify(root)});
        await s.prepare('orphan', 'p1');
        process.kill(process.pid, 'SIGKILL');`;
      try {
        execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
      } catch (err) {
        assert.equal(
          (err as { signal?: string }).signal,
          'SIGKILL',
          String((err as { stderr?: Buffer }).stderr),
        );
      }
      const reopened = await open(root);
      await assert.rejects(reopened.stat('orphan'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      assert.equal((await reopened.stat('c1-done')).parent, 'p1');
      assert.deepEqual(await committedTree(reopened, 'p1'), [
        'a.txt 644 0:0 A',
        'dir/ 755 0:0',
        'dir/b.txt 644 0:0 B',
      ]);
      // Our own active snapshot (this process is alive) survives the reopen.
      await snap.prepare('mine', 'p1');
      const again = await open(root);
      assert.equal((await again.stat('mine')).kind, 'active');
      const keys = (await again.list()).map((i) => i.key);
      assert.ok(keys.includes('chain-0') && !keys.includes('orphan'));
    });

    it('a snapshot another snapshotter holds stays until that one releases it; its own holder may remove it', async () => {
      const other = await open(root);
      await layer(other, 'h1', 'p1', { 'h.txt': 'H' });
      await layer(other, 'h2', 'p1', { 'h.txt': 'H2' });
      assert.deepEqual(await other.hold(['h1', 'no-such']), ['no-such'], 'hold reports what is absent');
      await assert.rejects(snap.remove('h1'), (e) => hasCode(e, 'SNAPSHOT_IN_USE'));
      await other.remove('h2');
      await other.release();
      await snap.remove('h1');
      await assert.rejects(snap.stat('h1'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
    });

    it("another live process's holds and active snapshots are not removed; once it is killed, they may be", async () => {
      await layer(snap, 'k1', 'p1', { 'k.txt': 'K' });
      const script = `
        const { ${driver === 'overlay' ? 'OverlaySnapshotter: S' : 'NativeSnapshotter: S'} } = await import(${JSON.stringify(
          path.resolve(import.meta.dirname, `../../../src/snapshot/${driver}/${driver}.ts`),
        )});
        const s = await S.open(${JSON.stringify(root)});
        await s.hold(['k1']);
        await s.prepare('theirs', 'p1');
        process.stdout.write('ready\\n');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((r) => child.once('exit', r));
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          child.once('exit', (code) => reject(new Error(`the holder exited early (${code})`)));
        });
        await assert.rejects(snap.remove('k1'), (e) => hasCode(e, 'SNAPSHOT_IN_USE'));
        await assert.rejects(snap.remove('theirs'), (e) => hasCode(e, 'SNAPSHOT_IN_USE'));
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      await snap.remove('theirs');
      await snap.remove('k1');
      assert.deepEqual(
        (await snap.list()).filter((i) => i.key === 'k1' || i.key === 'theirs'),
        [],
      );
    });
  });
}
