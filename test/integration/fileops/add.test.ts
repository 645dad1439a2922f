/**
 * ADD: local archives (plain, gzip, bzip2, xz, zstd) are extracted, other files copied;
 * remote URLs are downloaded from a local HTTP server with --checksum checked, mode 0600 and
 * the Last-Modified mtime, and are not extracted. Needs the tar/bzip2/xz/zstd tools.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addRemote, copy, detectArchive, fetchRemote } from '../../../src/fileops/index.ts';
import { build, inspect, tempDir } from './helpers.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

const ADD = {
  dirContentsOnly: true,
  followSymlinks: true,
  allowWildcard: true,
  createDestPath: true,
  unpack: true,
  defaultOwner: { uid: 0, gid: 0 },
};

/** A tar of a small tree, made by GNU tar, then compressed by the named tool. */
function makeArchive(kind: string): { srcRoot: string; name: string } {
  const tree = dir('kiln-add-tree-');
  build(tree, {
    'top.txt': 'top',
    'sub/inner.txt': { content: 'inner', mode: 0o751, uid: 321, gid: 654 },
    'sub/link': { link: 'inner.txt' },
  });
  const srcRoot = dir('kiln-add-src-');
  const tar = join(srcRoot, 'plain.tar');
  execFileSync('tar', ['-C', tree, '--numeric-owner', '-cf', tar, 'top.txt', 'sub']);
  if (kind === 'tar') return { srcRoot, name: 'plain.tar' };
  const tool = { gzip: 'gzip', bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' }[kind] as string;
  // Name it without an extension: detection is by content, not by name.
  const out = join(srcRoot, `archive-${kind}`);
  writeFileSync(out, execFileSync(tool, ['-c', tar], { maxBuffer: 1 << 26 }));
  rmSync(tar);
  return { srcRoot, name: `archive-${kind}` };
}

describe('ADD local archives', () => {
  for (const kind of ['tar', 'gzip', 'bzip2', 'xz', 'zstd']) {
    it(`extracts a ${kind} archive into the destination`, async () => {
      const { srcRoot, name } = makeArchive(kind);
      assert.equal(await detectArchive(join(srcRoot, name)), kind);
      const dest = dir('kiln-add-dst-');
      await copy({ ...ADD, srcRoot, srcPaths: [name], destRoot: dest, dest: '/opt/x/' });
      const seen = inspect(dest);
      assert.equal(seen['opt/x/top.txt'].content, 'top');
      assert.equal(seen['opt/x/sub/inner.txt'].content, 'inner');
      assert.equal(seen['opt/x/sub/inner.txt'].mode, 0o751);
      assert.equal(seen['opt/x/sub/inner.txt'].uid, 321);
      assert.equal(seen['opt/x/sub/link'].link, 'inner.txt');
      assert.equal(seen[`opt/x/${name}`], undefined);
    });
  }
  it('extracts into dest even without a trailing slash', async () => {
    const { srcRoot, name } = makeArchive('gzip');
    const dest = dir('kiln-add-dst-');
    await copy({ ...ADD, srcRoot, srcPaths: [name], destRoot: dest, dest: '/x' });
    assert.equal(inspect(dest)['x/top.txt'].content, 'top');
  });
  it('copies a file that is not an archive (even one that is gzip but not tar)', async () => {
    const srcRoot = dir('kiln-add-src-');
    writeFileSync(join(srcRoot, 'notes.txt'), 'plain text');
    writeFileSync(join(srcRoot, 'data.gz'), execFileSync('gzip', ['-c'], { input: 'not a tar' }));
    const dest = dir('kiln-add-dst-');
    await copy({ ...ADD, srcRoot, srcPaths: ['notes.txt', 'data.gz'], destRoot: dest, dest: '/d/' });
    const seen = inspect(dest);
    assert.equal(seen['d/notes.txt'].content, 'plain text');
    assert.equal(seen['d/data.gz'].type, 'file');
  });
  it('COPY (no unpack) copies an archive as a file', async () => {
    const { srcRoot, name } = makeArchive('gzip');
    const dest = dir('kiln-add-dst-');
    await copy({ ...ADD, unpack: false, srcRoot, srcPaths: [name], destRoot: dest, dest: '/d/' });
    assert.equal(inspect(dest)[`d/${name}`].type, 'file');
  });
  it('a hostile archive cannot write outside the destination root', async () => {
    const base = dir('kiln-add-hostile-');
    const srcRoot = join(base, 'src');
    const dest = join(base, 'root');
    build(base, { 'src/.keep': '', 'root/.keep': '', 'sentinel/keep': 'k' });
    const py = `
import tarfile, io
t = tarfile.open(${JSON.stringify(join(srcRoot, 'evil.tar'))}, 'w')
def add(name, data=b'', type=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.size = len(data); t.addfile(i, io.BytesIO(data))
add('../../sentinel/pwned', b'x')
add('esc', type=tarfile.SYMTYPE, link='../../sentinel')
add('esc/pwned2', b'y')
add('abs', type=tarfile.SYMTYPE, link='/')
add('abs/../sentinel/pwned3', b'z')
t.close()`;
    execFileSync('python3', ['-c', py]);
    try {
      await copy({ ...ADD, srcRoot, srcPaths: ['evil.tar'], destRoot: dest, dest: '/x/' });
    } catch {
      // Rejecting the archive is fine too; writing outside is not.
    }
    assert.deepEqual(Object.keys(inspect(join(base, 'sentinel'))), ['keep']);
    assert.equal(existsSync(join(base, 'pwned')), false);
  });
});

describe('ADD from a URL', () => {
  let server: Server;
  let baseUrl: string;
  const body = Buffer.from('remote file body\n');
  const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/files/tool.sh' || req.url === '/files/caf%E9.txt') {
        res.writeHead(200, { 'content-length': body.length, 'last-modified': lastModified });
        res.end(body);
      } else if (req.url === '/dl?id=7') {
        res.writeHead(200, { 'content-disposition': 'attachment; filename="named.bin"' });
        res.end(body);
      } else if (req.url === '/endless') {
        // No length, and bytes for as long as the client reads.
        res.writeHead(200);
        const chunk = Buffer.alloc(64 << 10, 1);
        const more = () => {
          while (res.write(chunk)) {}
        };
        res.on('drain', more);
        more();
      } else if (req.url === '/declared') {
        res.writeHead(200, { 'content-length': String(1 << 30) });
        res.write('x');
      } else if (req.url === '/stalled') {
        res.writeHead(200);
        res.write('first bytes, then nothing');
      } else if (req.url === '/archive.tar.gz') {
        const tree = dir('kiln-remote-tree-');
        writeFileSync(join(tree, 'in.txt'), 'in');
        res.writeHead(200);
        res.end(execFileSync('tar', ['-C', tree, '-czf', '-', 'in.txt']));
      } else {
        res.writeHead(404);
        res.end('no');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const good = `sha256:${createHash('sha256').update(body).digest('hex')}`;

  it('downloads with a good checksum: mode 0600, Last-Modified mtime, URL basename', async () => {
    const dest = dir('kiln-remote-dst-');
    const r = await addRemote(`${baseUrl}/files/tool.sh`, {
      destRoot: dest,
      dest: '/usr/local/bin/',
      checksum: good,
    });
    assert.equal(r.digest, good);
    const f = inspect(dest)['usr/local/bin/tool.sh'];
    assert.equal(f.content, body.toString());
    assert.equal(f.mode, 0o600);
    assert.equal(f.mtime, Date.parse(lastModified) / 1000);
    assert.equal(f.uid, 0);
  });
  it('fails with a bad checksum and writes nothing', async () => {
    const dest = dir('kiln-remote-dst-');
    await assert.rejects(
      addRemote(`${baseUrl}/files/tool.sh`, {
        destRoot: dest,
        dest: '/x',
        checksum: `sha256:${'0'.repeat(64)}`,
      }),
      (e: Error & { code?: string }) =>
        e.code === 'ADD_CHECKSUM_MISMATCH' && /expected sha256:0{64}, got sha256:/.test(e.message),
    );
    assert.deepEqual(Object.keys(inspect(dest)), []);
  });
  it('names the file from Content-Disposition and honours --chown/--chmod', async () => {
    const dest = dir('kiln-remote-dst-');
    await addRemote(`${baseUrl}/dl?id=7`, {
      destRoot: dest,
      dest: '/d/',
      chown: { user: '7', group: '8' },
      chmod: '755',
    });
    const f = inspect(dest)['d/named.bin'];
    assert.equal(f.mode, 0o755);
    assert.equal(f.uid, 7);
    assert.equal(f.gid, 8);
  });
  it('a %XX in the URL path is a byte of the name, UTF-8 or not (Go: path.Base of the unescaped path)', async () => {
    const dest = dir('kiln-remote-dst-');
    await addRemote(`${baseUrl}/files/caf%E9.txt`, { destRoot: dest, dest: '/d/' });
    assert.deepEqual(readdirSync(join(dest, 'd'), { encoding: 'buffer' }), [
      Buffer.from('caf\xe9.txt', 'latin1'),
    ]);
  });
  it('a remote archive is not extracted (no --unpack)', async () => {
    const dest = dir('kiln-remote-dst-');
    await addRemote(`${baseUrl}/archive.tar.gz`, { destRoot: dest, dest: '/d/' });
    assert.equal(inspect(dest)['d/archive.tar.gz'].type, 'file');
  });
  it('a remote archive is extracted with --unpack', async () => {
    const dest = dir('kiln-remote-dst-');
    await addRemote(`${baseUrl}/archive.tar.gz`, { destRoot: dest, dest: '/d/', unpack: true });
    assert.equal(readFileSync(join(dest, 'd/in.txt'), 'utf8'), 'in');
  });
  it('a download is bounded in bytes, sent or declared, and in idle time; nothing stays behind', async () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('kiln-add-')).length;
    await assert.rejects(fetchRemote(`${baseUrl}/endless`, { maxBytes: 1 << 20 }), {
      code: 'ADD_DOWNLOAD_TOO_LARGE',
      message: /ADD's download at .*\/endless is larger than 1048576 bytes/,
    });
    await assert.rejects(fetchRemote(`${baseUrl}/declared`, { maxBytes: 1 << 20 }), {
      code: 'ADD_DOWNLOAD_TOO_LARGE',
    });
    await assert.rejects(fetchRemote(`${baseUrl}/stalled`, { idleMs: 300 }), {
      code: 'ADD_DOWNLOAD_FAILED',
      message: /sent nothing for 0.3 s/,
    });
    assert.equal(readdirSync(tmpdir()).filter((n) => n.startsWith('kiln-add-')).length, before);
  });

  it('an HTTP error is reported', async () => {
    const dest = dir('kiln-remote-dst-');
    await assert.rejects(addRemote(`${baseUrl}/missing`, { destRoot: dest, dest: '/x' }), {
      code: 'ADD_DOWNLOAD_FAILED',
    });
  });
});
