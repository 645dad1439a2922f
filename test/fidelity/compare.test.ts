/**
 * The fidelity judge judged: its tar reader against GNU tar, whiteout flattening, both archive
 * formats, and that it reports real differences while ignoring builder artifacts. Pure and fast:
 * no docker, no kiln build.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compareSummaries, formatTable } from './compare.ts';
import { applyLayer, type FsEntry, summariseImage } from './image-archive.ts';
import { readTarEntries } from './tar-entries.ts';

const work = mkdtempSync(join(tmpdir(), 'kiln-fid-judge-'));
after(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Tar the tree under `dir` with GNU tar (the independent writer the reader is checked against). */
function gnuTar(dir: string, out: string, extra: string[] = []): string {
  execFileSync('tar', [
    '-cf',
    out,
    '--sort=name',
    '--format=pax',
    '--numeric-owner',
    ...extra,
    '-C',
    dir,
    '.',
  ]);
  return out;
}

function tree(name: string, build: (root: string) => void): string {
  const root = join(work, name);
  mkdirSync(root, { recursive: true });
  build(root);
  return root;
}

describe('readTarEntries', () => {
  it('reports type, full mode, owner, content digest and link targets as GNU tar wrote them', () => {
    const longDir = 'd'.repeat(60);
    const root = tree('t1', (r) => {
      writeFileSync(join(r, 'suid'), 'abc');
      chmodSync(join(r, 'suid'), 0o4755);
      symlinkSync('../elsewhere', join(r, 'sym'));
      linkSync(join(r, 'suid'), join(r, 'hard'));
      mkdirSync(join(r, longDir, longDir), { recursive: true });
      writeFileSync(join(r, longDir, longDir, 'deep.txt'), 'deep');
      mkdirSync(join(r, 'sticky'));
      chmodSync(join(r, 'sticky'), 0o1777);
    });
    const entries = readTarEntries(gnuTar(root, join(work, 't1.tar'), ['--owner=70000', '--group=5678']));
    const by = new Map(entries.map((e) => [e.path, e]));
    assert.deepEqual(by.get('/hard'), {
      path: '/hard',
      type: 'file',
      mode: '4755',
      uid: 70000,
      gid: 5678,
      size: 3,
      sha256: sha('abc'),
    });
    assert.equal(by.get('/suid')?.type, 'hardlink');
    assert.equal(by.get('/suid')?.link, '/hard');
    assert.equal(by.get('/sym')?.link, '../elsewhere');
    assert.equal(by.get('/sticky')?.mode, '1777');
    assert.equal(by.get(`/${longDir}/${longDir}/deep.txt`)?.sha256, sha('deep'));
  });
});

describe('applyLayer', () => {
  it('removes a whited-out path with everything below it, and hides lower entries under an opaque dir', () => {
    const fs = new Map<string, FsEntry>();
    const dir: FsEntry = { type: 'dir', mode: '0755', uid: 0, gid: 0 };
    const file: FsEntry = { type: 'file', mode: '0644', uid: 0, gid: 0, size: 1, sha256: 'x' };
    applyLayer(fs, { '/a': dir, '/a/1': file, '/b': dir, '/b/1': file, '/b/2': file, '/c': file });
    applyLayer(fs, {
      '/a': { type: 'whiteout' },
      '/b': dir,
      '/b/.wh..wh..opq': { type: 'opaque' },
      '/b/3': file,
    });
    assert.deepEqual([...fs.keys()].sort(), ['/b', '/b/3', '/c']);
  });
});

/** Write a two-layer image both as a docker-save dir and as an OCI layout with gzip layers. */
function writeImages(name: string, layerTars: string[], config: Record<string, unknown>): [string, string] {
  const diffIds = layerTars.map((t) => `sha256:${sha(readFileSync(t))}`);
  const cfg = JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: diffIds } });
  const save = join(work, `${name}-save`);
  mkdirSync(save);
  writeFileSync(join(save, 'config.json'), cfg);
  for (const [i, t] of layerTars.entries()) writeFileSync(join(save, `l${i}.tar`), readFileSync(t));
  writeFileSync(
    join(save, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', Layers: layerTars.map((_, i) => `l${i}.tar`) }]),
  );
  const oci = join(work, `${name}-oci`);
  mkdirSync(join(oci, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer | string): string => {
    const h = sha(b);
    writeFileSync(join(oci, 'blobs', 'sha256', h), b);
    return `sha256:${h}`;
  };
  const layers = layerTars.map((t) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: put(gzipSync(readFileSync(t))),
  }));
  const manifest = put(JSON.stringify({ schemaVersion: 2, config: { digest: put(cfg) }, layers }));
  writeFileSync(join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(oci, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ digest: manifest }] }),
  );
  return [save, oci];
}

describe('summariseImage + compareSummaries', () => {
  const base = gnuTar(
    tree('base', (r) => {
      mkdirSync(join(r, 'etc'));
      writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
      writeFileSync(join(r, 'etc/group'), 'root:x:0:\n');
    }),
    join(work, 'base.tar'),
    ['--owner=0', '--group=0'],
  );
  const layer = (name: string, mode: number) =>
    gnuTar(
      tree(name, (r) => {
        mkdirSync(join(r, 'etc'));
        writeFileSync(join(r, 'etc/.wh.group'), '');
        writeFileSync(join(r, 'new'), 'new\n');
        chmodSync(join(r, 'new'), mode);
        mkdirSync(join(r, 'proc'));
      }),
      join(work, `${name}.tar`),
      ['--owner=0', '--group=0'],
    );
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: {} },
    history: [{ created_by: 'import' }, { created_by: 'RUN x # buildkit' }],
  };

  it('reads a docker-save archive and a gzip OCI layout of the same image to equal summaries', async () => {
    const [save, oci] = writeImages('same', [base, layer('l1', 0o644)], config);
    const a = await summariseImage(save, { builder: 'a' });
    const b = await summariseImage(oci, { builder: 'b' });
    assert.deepEqual(compareSummaries(a, b), { differences: [], notes: [] });
    assert.deepEqual(a.config, { Env: ['PATH=/bin'], Cmd: ['sh'] });
    assert.equal(a.filesystem.changed['/etc/group'], undefined);
    assert.equal(a.filesystem.changed['/new']?.mode, '0644');
    // /etc only changed its mtime and /proc is an empty runtime mount point: both are artifacts.
    assert.equal(a.layers[1].entries?.['/etc']?.artifact, 'unchanged-dir');
    assert.equal(a.layers[1].entries?.['/proc']?.artifact, 'mount-stub');
  });

  it('reports a mode difference per layer and on the flattened filesystem, and a changed Cmd', async () => {
    const [, ref] = writeImages('ref', [base, layer('r1', 0o644)], config);
    const [got] = writeImages('got', [base, layer('g1', 0o600)], {
      ...config,
      config: { ...config.config, Cmd: ['ls'] },
    });
    const c = compareSummaries(
      await summariseImage(ref, { builder: 'ref' }),
      await summariseImage(got, { builder: 'got' }),
    );
    assert.deepEqual(
      c.differences.map((d) => d.where),
      ['config.Cmd', 'layer[1]:/new.mode', 'fs:/new.mode'],
    );
    assert.match(c.notes.join('\n'), /layer\[1\] diffID/);
    assert.match(
      formatTable([{ name: 'x', verdict: 'differs', ...c }]),
      /fs:\/new\.mode: expected 0644, got 0600/,
    );
  });
});
