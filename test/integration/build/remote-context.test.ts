/**
 * `kiln build URL`, as `docker build URL`: a git repository (with `#ref:subdir`), a context tar at
 * an http(s) URL, a bare Dockerfile at a URL (an empty context), `-f` inside a remote context, and
 * a download that is too large or missing failing clearly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type StaticServer, startStaticServer } from '../../../src/testing/static-server.ts';
import { KILN, makeContext, openSuite, type Suite } from './helpers.ts';

describe('kiln build of a URL context', () => {
  let suite: Suite;
  let url: string;
  let server: StaticServer;
  before(async () => {
    suite = await openSuite('remote');
    const www = join(suite.dir, 'www');
    mkdirSync(www);
    const work = join(suite.dir, 'gitwork');
    mkdirSync(join(work, 'app'), { recursive: true });
    writeFileSync(join(work, 'app', 'Dockerfile'), 'FROM busybox\nCOPY hello.txt /hello.txt\n');
    writeFileSync(join(work, 'app', 'Other.dockerfile'), 'FROM busybox\nCOPY hello.txt /other.txt\n');
    writeFileSync(join(work, 'app', 'hello.txt'), 'from git\n');
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.email=t@kiln', '-c', 'user.name=t', ...args], { cwd, stdio: 'pipe' });
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-q', '-m', 'one');
    git(suite.dir, 'clone', '-q', '--bare', work, join(www, 'repo.git'));
    git(join(www, 'repo.git'), 'update-server-info');
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nCOPY t.txt /t.txt\n',
      't.txt': 'from tar\n',
    });
    execFileSync('tar', ['-C', ctx, '-cJf', join(www, 'ctx.tar.xz'), '.']);
    writeFileSync(join(www, 'Dockerfile.txt'), 'FROM busybox\nRUN echo plain > /plain\n');
    server = await startStaticServer(www);
    url = server.url;
  });
  after(async () => {
    server?.stop();
    await suite?.close();
  });

  function build(context: string, extra: string[] = []): { code: number | null; err: string; out: string } {
    const out = join(suite.dir, `out-${Math.random().toString(36).slice(2)}`);
    const r = spawnSync(
      KILN,
      ['build', '--progress', 'plain', ...extra, '-o', `type=local,dest=${out}`, context],
      {
        env: { ...process.env, KILN_ROOT: suite.root },
        encoding: 'utf8',
      },
    );
    return { code: r.status, err: r.stderr, out };
  }

  it('a git URL with #:subdir, and -f naming a file inside it', () => {
    let r = build(`${url}/repo.git#:app`);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(r.out, 'hello.txt'), 'utf8'), 'from git\n');
    r = build(`${url}/repo.git#:app`, ['-f', 'Other.dockerfile']);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(r.out, 'other.txt'), 'utf8'), 'from git\n');
  });

  it('an xz context tar at a URL, and a bare Dockerfile at a URL', () => {
    let r = build(`${url}/ctx.tar.xz`);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(r.out, 't.txt'), 'utf8'), 'from tar\n');
    r = build(`${url}/Dockerfile.txt`);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(r.out, 'plain'), 'utf8'), 'plain\n');
  });

  it('a missing URL and a missing subdirectory fail with one clear line each', () => {
    let r = build(`${url}/nope.tar`);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /^error: cannot download .*nope\.tar: HTTP 404/m);
    assert.doesNotMatch(r.err, /\n\s+at /);
    r = build(`${url}/repo.git#:missing`);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /subdirectory "missing" is not a directory of the repository/);
  });
});
