/**
 * The rest of the Engine API a client reaches for: `remote=` contexts (a git repository, a context
 * tar and a bare Dockerfile at a URL), `docker import URL`, `GET /events`, and base images pulled
 * with the client's registry credentials (X-Registry-Config), never the server's own logins.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { type StaticServer, startStaticServer } from '../../../src/testing/static-server.ts';
import { KILN, request, type Served, serve } from './helpers.ts';

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@kiln', '-c', 'user.name=t', ...args], { cwd, stdio: 'pipe' });
}

/** The build's JSON messages: the aux ID, the text, and an errorDetail if any. */
function messages(body: string): { id?: string; text: string; error?: string } {
  let text = '';
  let id: string | undefined;
  let error: string | undefined;
  for (const line of body.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as {
      stream?: string;
      aux?: { ID: string };
      errorDetail?: { message: string };
    };
    if (m.stream) text += m.stream;
    if (m.aux) id = m.aux.ID;
    if (m.errorDetail) error = m.errorDetail.message;
  }
  return { id, text, error };
}

describe('kiln serve: remote contexts and docker import of a URL', () => {
  let s: Served;
  let files: StaticServer;
  before(async () => {
    s = await serve('remote');
    const www = join(s.dir, 'www');
    mkdirSync(www);
    // A git repository with the build in a subdirectory, served as a dumb-http remote.
    const work = join(s.dir, 'gitwork');
    mkdirSync(join(work, 'app'), { recursive: true });
    writeFileSync(join(work, 'app', 'Dockerfile'), 'FROM busybox\nCOPY hello.txt /hello.txt\n');
    writeFileSync(join(work, 'app', 'hello.txt'), 'from git\n');
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-q', '-m', 'one');
    git(s.dir, 'clone', '-q', '--bare', work, join(www, 'repo.git'));
    git(join(www, 'repo.git'), 'update-server-info');
    // A context tar, and a bare Dockerfile.
    const ctx = await s.context({ Dockerfile: 'FROM busybox\nCOPY t.txt /t.txt\n', 't.txt': 'from tar\n' });
    execFileSync('tar', ['-C', ctx, '-czf', join(www, 'ctx.tar.gz'), '.']);
    writeFileSync(join(www, 'Dockerfile.txt'), 'FROM busybox\nRUN echo plain > /plain\n');
    // A rootfs for docker import.
    const rootfs = await s.context({ 'etc/imported': 'yes\n' });
    execFileSync('tar', ['-C', rootfs, '-cf', join(www, 'rootfs.tar'), '.']);
    files = await startStaticServer(www);
  });
  after(async () => {
    files?.stop();
    await s?.close();
  });

  /** A file of an image, read through kiln (kiln serve has no containers to run `cat` in). */
  function fileOf(image: string, path: string): string {
    const out = join(s.dir, `out-${Math.random().toString(36).slice(2)}`);
    const ctx = join(s.dir, `probe-${Math.random().toString(36).slice(2)}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${image}\n`);
    const b = s.kiln(['build', '-q', '-o', `type=local,dest=${out}`, ctx]);
    assert.equal(b.code, 0, b.err);
    return readFileSync(join(out, path), 'utf8');
  }

  it('builds a git URL with #:subdir as the context', async () => {
    const remote = `${files.url}/repo.git#:app`;
    const r = await request(s.socket, 'POST', `/build?t=from-git:1&remote=${encodeURIComponent(remote)}`);
    const m = messages(r.body);
    assert.equal(m.error, undefined, `${m.text}\n${s.log()}`);
    assert.match(m.id ?? '', /^sha256:/);
    assert.equal(fileOf('from-git:1', 'hello.txt'), 'from git\n');
  });

  it('builds a context tar at a URL, and a URL of a bare Dockerfile with an empty context', async () => {
    let r = await request(
      s.socket,
      'POST',
      `/build?t=from-tar:1&remote=${encodeURIComponent(`${files.url}/ctx.tar.gz`)}`,
    );
    let m = messages(r.body);
    assert.equal(m.error, undefined, m.text);
    assert.equal(fileOf('from-tar:1', 't.txt'), 'from tar\n');
    r = await request(
      s.socket,
      'POST',
      `/build?t=from-text:1&remote=${encodeURIComponent(`${files.url}/Dockerfile.txt`)}`,
    );
    m = messages(r.body);
    assert.equal(m.error, undefined, m.text);
    assert.equal(fileOf('from-text:1', 'plain'), 'plain\n');
  });

  it('docker-py builds from a remote URL', () => {
    const script = `
import docker, json
c = docker.DockerClient(base_url=${JSON.stringify(s.host)})
img, logs = c.images.build(path=${JSON.stringify(`${files.url}/ctx.tar.gz`)}, tag='py-remote:1')
print(json.dumps({'id': img.id}))
`;
    const r = s.run('/usr/bin/python3', ['-c', script]);
    assert.equal(r.code, 0, `${r.err}\n${r.out}\n${s.log()}`);
    assert.match(r.out, /"id": "sha256:[0-9a-f]{64}"/);
  });

  it('refuses a remote that is a host path, or an ssh URL, and a missing URL fails clearly', async () => {
    for (const remote of ['/etc', 'git@example.com:x/y.git', 'ssh://example.com/x.git']) {
      const r = await request(s.socket, 'POST', `/build?remote=${encodeURIComponent(remote)}`);
      assert.equal(r.status, 400, `${remote}: ${r.body}`);
      assert.match((JSON.parse(r.body) as { message: string }).message, /is not a git or http\(s\) URL/);
    }
    const r = await request(s.socket, 'POST', `/build?remote=${encodeURIComponent(`${files.url}/nope.tar`)}`);
    const m = messages(r.body);
    assert.match(m.error ?? '', /cannot download .*nope\.tar: HTTP 404/);
  });

  it('docker import of a URL downloads the rootfs', async () => {
    const id = s.docker(['import', `${files.url}/rootfs.tar`, 'imported:1']).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    // The server's log line arrives once this process's event loop runs again.
    for (let i = 0; i < 50 && !/GET \/rootfs\.tar/.test(files.log()); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(files.log(), /GET \/rootfs\.tar/, 'kiln downloaded it');
    assert.equal(fileOf('imported:1', 'etc/imported'), 'yes\n');
  });
});

describe('kiln serve: GET /events', () => {
  let s: Served;
  before(async () => {
    s = await serve('events');
  });
  after(async () => s?.close());

  it('docker events --since/--until shows tag, untag, build tags and builder prune', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    s.docker(['tag', 'busybox', 'ev-tag:1']);
    const ctx = await s.context({ Dockerfile: 'FROM busybox\nENV X=1\n' });
    s.docker(['build', '-q', '-t', 'ev-built:1', ctx]);
    s.docker(['rmi', 'ev-tag:1']);
    s.docker(['builder', 'prune', '-f']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const out = s.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--format',
      '{{json .}}',
    ]);
    const events = out
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { Type: string; Action: string; Actor: { Attributes: Record<string, string> } },
      );
    const seen = events.map((e) => `${e.Type} ${e.Action} ${e.Actor.Attributes.name ?? ''}`.trim());
    for (const want of [
      'image tag ev-tag:1',
      'image tag ev-built:1',
      'image untag ev-tag:1',
      'builder prune',
    ])
      assert.ok(
        seen.some((x) => x.startsWith(want)),
        `${want} missing from:\n${seen.join('\n')}`,
      );
    // --filter narrows it.
    const only = s.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'event=untag',
      '--format',
      '{{.Action}}',
    ]);
    assert.deepEqual(only.trim().split('\n'), ['untag']);
  });

  it('a live subscriber gets an event as it happens, and an unknown filter is a 400', async () => {
    const child = spawn('/usr/bin/docker', ['events', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], {
      env: { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: join(s.dir, 'docker-config') },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    try {
      // Give the subscription a moment to be made, then act.
      await new Promise((r) => setTimeout(r, 500));
      s.docker(['tag', 'busybox', 'ev-live:1']);
      const deadline = Date.now() + 10_000;
      while (!out.includes('tag ev-live:1') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /tag ev-live:1/);
    } finally {
      child.kill();
    }
    const r = await request(
      s.socket,
      'GET',
      `/events?filters=${encodeURIComponent('{"container":{"x":true}}')}`,
    );
    assert.equal(r.status, 400);
    assert.match((JSON.parse(r.body) as { message: string }).message, /no "container" event filter/);
  });
});

describe('kiln serve: base images with the client’s credentials', () => {
  let reg: TestRegistry;
  let s: Served;
  const SECRET = 'pw-for-serve';
  before(async () => {
    reg = await startRegistry({ htpasswd: { user: 'bob', password: SECRET } });
    // The server's own docker config holds a login for the registry: it must not be used.
    const serverCfg = join(process.env.TMPDIR ?? '/tmp', `kiln-serve-own-cfg-${process.pid}`);
    mkdirSync(serverCfg, { recursive: true });
    const auth = Buffer.from(`bob:${SECRET}`).toString('base64');
    writeFileSync(join(serverCfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
    s = await serve('creds', [], { DOCKER_CONFIG: serverCfg });
    // Put busybox behind the login (kiln push as the server's user, with its config), and drop
    // the local name so a build must pull it.
    const tag = s.kiln(['tag', 'busybox', `${reg.host}/private/busybox:1`]);
    assert.equal(tag.code, 0, tag.err);
    execFileSync(KILN, ['push', `${reg.host}/private/busybox:1`], {
      env: { ...process.env, KILN_ROOT: s.root, DOCKER_CONFIG: serverCfg },
      stdio: 'pipe',
    });
    const rmi = s.kiln(['rmi', `${reg.host}/private/busybox:1`]);
    assert.equal(rmi.code, 0, rmi.err);
  });
  after(async () => {
    await s?.close();
    await reg?.stop();
    rmSync(join(process.env.TMPDIR ?? '/tmp', `kiln-serve-own-cfg-${process.pid}`), {
      recursive: true,
      force: true,
    });
  });

  it('FROM a private image fails without the client’s login and builds with it', async () => {
    const ctx = await s.context({ Dockerfile: `FROM ${reg.host}/private/busybox:1\nENV P=1\n` });
    // Without a login of its own the client gets an auth failure.
    const no = s.run('/usr/bin/docker', ['build', '-t', 'priv:1', ctx]);
    assert.notEqual(no.code, 0, 'the server used its own login for a client');
    assert.match(no.out + no.err, /unauthorized|authentication required|credentials/i);
    // With a login in the client's config, docker sends X-Registry-Config and the build pulls.
    const auth = Buffer.from(`bob:${SECRET}`).toString('base64');
    writeFileSync(
      join(s.dir, 'docker-config', 'config.json'),
      JSON.stringify({ auths: { [reg.host]: { auth } } }),
    );
    const yes = s.run('/usr/bin/docker', ['build', '-t', 'priv:1', ctx]);
    assert.equal(yes.code, 0, `${yes.err}\n${yes.out}\n${s.log()}`);
    assert.doesNotMatch(s.log() + yes.out + yes.err, new RegExp(SECRET));
  });
});
