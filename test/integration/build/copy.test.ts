/**
 * COPY and ADD end to end: what lands in the image (paths, modes, owners, contents, links) for
 * every source kind and flag, including remote ADD from a local HTTP server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { symlink } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  buildError,
  entry,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
  stat,
} from './helpers.ts';

let suite: Suite;
let server: http.Server;
let base: string;
const REMOTE = 'remote file body\n';
const REMOTE_SHA = `sha256:${createHash('sha256').update(REMOTE).digest('hex')}`;

before(async () => {
  suite = await openSuite('copy');
  server = http.createServer((req, res) => {
    if (req.url === '/files/remote.txt') {
      res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      res.end(REMOTE);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.close();
  await suite.close();
});

describe('COPY', () => {
  it('copies a directory’s contents, not the directory itself', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY src /dst\n', {
      'src/a.txt': 'a',
      'src/sub/b.txt': 'b',
    });
    assert.equal(read(b.fs, 'dst/a.txt'), 'a');
    assert.equal(read(b.fs, 'dst/sub/b.txt'), 'b');
    assert.ok(!exists(b.fs, 'dst/src'));
  });

  it('wildcards match several files; a trailing slash makes the destination a directory', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY *.txt /texts/\nCOPY one.md /file-not-dir\n', {
      'a.txt': 'A',
      'b.txt': 'B',
      'one.md': 'md',
    });
    assert.equal(read(b.fs, 'texts/a.txt'), 'A');
    assert.equal(read(b.fs, 'texts/b.txt'), 'B');
    assert.ok(!exists(b.fs, 'texts/one.md'));
    assert.equal(stat(b.fs, 'file-not-dir').type, 'file');
    assert.equal(read(b.fs, 'file-not-dir'), 'md');
  });

  it('a relative destination is relative to WORKDIR; files keep their mode, owned by root', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nWORKDIR /app\nCOPY run.sh .\n', {
      'run.sh': { data: '#!/bin/sh\n', mode: 0o751 },
    });
    const st = stat(b.fs, 'app/run.sh');
    assert.equal(st.mode, 0o751);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
  });

  it('--chown by name and by id sets the owner of files and copied directories', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nCOPY --chown=app:app f /byname\nCOPY --chown=123:456 d /byid\nCOPY --chown=app f /useronly\n',
      { f: 'x', 'd/g': 'y' },
    );
    assert.deepEqual([stat(b.fs, 'byname').uid, stat(b.fs, 'byname').gid], [1000, 1000]);
    assert.deepEqual([stat(b.fs, 'byid').uid, stat(b.fs, 'byid').gid], [123, 456]);
    assert.deepEqual([stat(b.fs, 'byid/g').uid, stat(b.fs, 'byid/g').gid], [123, 456]);
    assert.deepEqual([stat(b.fs, 'useronly').uid, stat(b.fs, 'useronly').gid], [1000, 1000]);
  });

  it('--chmod takes octal and symbolic modes', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nCOPY --chmod=0640 f /octal\nCOPY --chmod=u=rwx,go=rx f /symbolic\nCOPY --chmod=+x f /plusx\n',
      { f: { data: 'x', mode: 0o644 } },
    );
    assert.equal(stat(b.fs, 'octal').mode, 0o640);
    assert.equal(stat(b.fs, 'symbolic').mode, 0o755);
    assert.equal(stat(b.fs, 'plusx').mode, 0o755);
  });

  it('--from copies from a named stage, a stage index and an image', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS first
RUN echo first > /made
FROM busybox
RUN echo second > /made
FROM busybox
COPY --from=first /made /from-name
COPY --from=1 /made /from-index
COPY --from=busybox /etc/passwd /from-image
`,
    );
    assert.equal(read(b.fs, 'from-name'), 'first\n');
    assert.equal(read(b.fs, 'from-index'), 'second\n');
    assert.match(read(b.fs, 'from-image'), /^root:x:0:0/);
  });

  it('symlinks are copied as symlinks with their target', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nCOPY links /links\n',
      'links/real': 'r',
    });
    await symlink('real', join(ctx, 'links/alias'));
    const b = await buildContext(suite, ctx);
    const st = stat(b.fs, 'links/alias');
    assert.equal(st.type, 'symlink');
    assert.equal(st.target, 'real');
  });

  it('files written into directories the COPY makes are what a later source and the next step see', async () => {
    // The files of a directory the copy made go straight into the overlay's upper dir
    // (fileops/copy.ts inUpper): the second source must find and replace b's file through the
    // mount, the RUN must read and change them, and xattrs must land on them.
    const ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nCOPY a b /dst/\nRUN cat /dst/x/f.txt /dst/x/g.txt > /dst/seen && echo more >> /dst/x/g.txt\n',
      'a/x/f.txt': 'from a\n',
      'a/x/g.txt': 'g\n',
      'b/x/f.txt': 'from b\n',
    });
    execFileSync('setfattr', ['-n', 'user.kiln', '-v', 'kept', join(ctx, 'a/x/g.txt')]);
    const b = await buildContext(suite, ctx);
    assert.equal(read(b.fs, 'dst/seen'), 'from b\ng\n');
    assert.equal(read(b.fs, 'dst/x/f.txt'), 'from b\n');
    assert.equal(read(b.fs, 'dst/x/g.txt'), 'g\nmore\n');
    const copied = b.image.layers.at(-2)!;
    assert.deepEqual(
      copied.map((f) => f.path),
      ['dst', 'dst/x', 'dst/x/f.txt', 'dst/x/g.txt'],
    );
    assert.equal(entry(copied, 'dst/x/g.txt').xattrs['user.kiln']?.toString(), 'kept');
  });

  it('--link puts the copied files in a layer of their own, independent of the base', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN echo x > /x\nCOPY --link f /linked/f\n', {
      f: 'L',
    });
    assert.equal(read(b.fs, 'linked/f'), 'L');
    assert.equal(read(b.fs, 'x'), 'x\n');
    const last = b.image.layers.at(-1)!;
    assert.deepEqual(
      last.map((f) => f.path),
      ['linked', 'linked/f'],
    );
  });

  it('--parents keeps the source paths under the destination', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY --parents a/*/file.txt /out/\n', {
      'a/one/file.txt': '1',
      'a/two/file.txt': '2',
      'a/two/other.txt': 'no',
    });
    assert.equal(read(b.fs, 'out/a/one/file.txt'), '1');
    assert.equal(read(b.fs, 'out/a/two/file.txt'), '2');
    assert.ok(!exists(b.fs, 'out/a/two/other.txt'));
  });

  it('--exclude leaves out matching files', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY --exclude=*.log --exclude=tmp dir /dir\n', {
      'dir/keep.txt': 'k',
      'dir/drop.log': 'd',
      'dir/tmp/x': 'x',
    });
    assert.ok(exists(b.fs, 'dir/keep.txt'));
    assert.ok(!exists(b.fs, 'dir/drop.log'));
    assert.ok(!exists(b.fs, 'dir/tmp'));
  });

  it('heredoc COPY writes the inline content', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ENV NAME=kiln
COPY <<EOF /etc/greeting
hello \${NAME}
EOF
COPY --chmod=755 <<-"SCRIPT" /usr/local/bin/tool
	#!/bin/sh
	echo $NAME
	SCRIPT
`,
    );
    assert.equal(read(b.fs, 'etc/greeting'), 'hello kiln\n');
    assert.equal(read(b.fs, 'usr/local/bin/tool'), '#!/bin/sh\necho $NAME\n');
    assert.equal(stat(b.fs, 'usr/local/bin/tool').mode, 0o755);
  });

  it('a destination that is an existing directory receives the file even without a slash', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN mkdir /existing\nCOPY a.txt /existing\n', {
      'a.txt': 'a',
    });
    assert.equal(read(b.fs, 'existing/a.txt'), 'a');
  });

  it('a wildcard that matches nothing copies nothing and does not fail (AllowEmptyWildcard)', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY *.nomatch /nomatch/\n', { 'a.txt': 'a' });
    assert.ok(!exists(b.fs, 'nomatch/a.txt'));
  });

  it('a missing source fails with a clear error naming the file and the line', async () => {
    const err = await buildError(suite, 'FROM busybox\n\nCOPY nothere.txt /x\n');
    assert.match(err.message, /nothere\.txt/);
    assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND');
    assert.deepEqual(err.location, { file: err.location?.file, startLine: 3, endLine: 3 });
    assert.match(String(err.location?.file), /Dockerfile$/);
  });
});

describe('ADD', () => {
  it('a local tar archive is extracted into the destination', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nADD files.tar.gz /unpacked/\nCOPY files.tar.gz /kept/\n',
      'tree/top.txt': 'top',
      'tree/nested/deep.txt': 'deep',
    });
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-czf', join(ctx, 'files.tar.gz'), '-C', join(ctx, 'tree'), '.']);
    const b = await buildContext(suite, ctx);
    assert.equal(read(b.fs, 'unpacked/top.txt'), 'top');
    assert.equal(read(b.fs, 'unpacked/nested/deep.txt'), 'deep');
    assert.equal(stat(b.fs, 'kept/files.tar.gz').type, 'file');
  });

  it('xz, bzip2 and zstd tars are extracted too; a .tar.gz that is not an archive is copied as is', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nADD x.tar.xz /xz/\nADD x.tar.bz2 /bz2/\nADD x.tar.zst /zst/\nADD fake.tar.gz /fake/\n',
      'tree/inner.txt': 'inner',
      'fake.tar.gz': 'not a tar',
    });
    const { execFileSync } = await import('node:child_process');
    const { zstdCompressSync } = await import('node:zlib');
    const { writeFileSync } = await import('node:fs');
    const plain = execFileSync('tar', ['-c', '-f', '-', '-C', join(ctx, 'tree'), '.']);
    writeFileSync(join(ctx, 'x.tar.zst'), zstdCompressSync(plain));
    // xz and bzip2 come from xz-utils and bzip2 (Debian "required"/"standard" tools).
    writeFileSync(join(ctx, 'x.tar.xz'), execFileSync('xz', ['-c'], { input: plain }));
    writeFileSync(join(ctx, 'x.tar.bz2'), execFileSync('bzip2', ['-c'], { input: plain }));
    const b = await buildContext(suite, ctx);
    for (const d of ['xz', 'bz2', 'zst']) assert.equal(read(b.fs, `${d}/inner.txt`), 'inner');
    assert.equal(read(b.fs, 'fake/fake.tar.gz'), 'not a tar');
  });

  it('an http URL is downloaded with mode 600 and the server’s name', async () => {
    const b = await buildDockerfile(suite, `FROM busybox\nADD ${base}/files/remote.txt /dl/\n`);
    const st = stat(b.fs, 'dl/remote.txt');
    assert.equal(st.content, REMOTE);
    assert.equal(st.mode, 0o600);
    assert.equal(st.uid, 0);
  });

  it('--checksum accepts the right digest', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nADD --checksum=${REMOTE_SHA} ${base}/files/remote.txt /r.txt\n`,
    );
    assert.equal(read(b.fs, 'r.txt'), REMOTE);
  });

  it('--checksum with the wrong digest fails the build', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = await buildError(
      suite,
      `FROM busybox\nADD --checksum=${wrong} ${base}/files/remote.txt /r.txt\n`,
    );
    assert.match(err.message, /checksum|digest/i);
    assert.match(err.message, new RegExp(REMOTE_SHA.slice(7, 19)));
  });

  it('a URL that answers 404 fails the build with the status', async () => {
    const err = await buildError(suite, `FROM busybox\nADD ${base}/missing /m\n`);
    assert.match(err.message, /404/);
  });

  it('--chown and --chmod apply to downloaded files', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nADD --chown=app:app --chmod=644 ${base}/files/remote.txt /owned.txt\n`,
    );
    const st = stat(b.fs, 'owned.txt');
    assert.deepEqual([st.uid, st.gid, st.mode], [1000, 1000, 0o644]);
  });
});
