/**
 * The docker CLI (Debian's docker.io, classic builder) against a real `kiln serve`: build, list,
 * inspect, history, tag, push to a registry and pull back, save | load, rmi, and a clear 501 for
 * what kiln does not serve. Docker 28's CLI, where installed, builds and lists too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type Served, serve } from './helpers.ts';

describe('kiln serve with the docker CLI', () => {
  let s: Served;
  before(async () => {
    s = await serve('docker');
  });
  after(async () => {
    await s?.close();
  });

  it("docker build builds through kiln and prints docker's classic result lines", async () => {
    const ctx = await s.context({
      Dockerfile: 'FROM busybox\nLABEL via=serve\nRUN echo built > /built\nCOPY a.txt /a.txt\n',
      'a.txt': 'A\n',
    });
    const out = s.docker(['build', '-t', 'app:1', ctx]);
    assert.match(out, /RUN echo built > \/built/);
    assert.match(out, /Successfully built [0-9a-f]{12}\n/);
    assert.match(out, /Successfully tagged app:1\n/);
    // The same image is in kiln's store: the CLI and the server share the root.
    const id = s.kiln(['image', 'inspect', '--format', '{{.Id}}', 'app:1']).out.trim();
    assert.equal(s.docker(['image', 'inspect', '--format', '{{.Id}}', 'app:1']).trim(), id);
    assert.equal(
      s.docker(['image', 'inspect', '--format', '{{index .Config.Labels "via"}}', 'app:1']).trim(),
      'serve',
    );
  });

  it('docker build -f names a Dockerfile elsewhere, with build args, target and -q', async () => {
    const ctx = await s.context({
      'sub/Build.df': 'FROM busybox AS one\nARG MSG\nRUN echo $MSG > /msg\nFROM one AS two\nRUN false\n',
    });
    const out = s.docker([
      'build',
      '-q',
      '-f',
      join(ctx, 'sub/Build.df'),
      '--build-arg',
      'MSG=hello',
      '--target',
      'one',
      '-t',
      'args:1',
      ctx,
    ]);
    assert.match(out.trim(), /^sha256:[0-9a-f]{64}$/);
    const env = s.docker(['image', 'history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args:1']);
    assert.match(env, /MSG=hello/);
  });

  it('a failing build exits non-zero with the step that failed', async () => {
    const ctx = await s.context({ Dockerfile: 'FROM busybox\nRUN echo doomed && exit 3\n' });
    const r = s.run('/usr/bin/docker', ['build', ctx]);
    assert.notEqual(r.code, 0);
    assert.match(r.out + r.err, /"\/bin\/sh -c echo doomed && exit 3" exited with code 3/);
  });

  it('docker images, history and tag', async () => {
    s.docker(['tag', 'app:1', 'app:2']);
    const rows = s.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).trim().split('\n');
    const app1 = rows.find((r) => r.startsWith('app:1 '));
    const app2 = rows.find((r) => r.startsWith('app:2 '));
    assert.ok(app1 && app2, rows.join('\n'));
    assert.equal(app1.split(' ')[1], app2.split(' ')[1]);
    const filtered = s
      .docker(['images', '--filter', 'reference=app', '--format', '{{.Tag}}'])
      .trim()
      .split('\n');
    assert.deepEqual(filtered.sort(), ['1', '2']);
    const hist = s.docker(['history', '--format', '{{.CreatedBy}}', 'app:1']);
    assert.match(hist, /RUN .*echo built/);
  });

  it('docker push to a registry and docker pull back', async () => {
    const reg = await sharedRegistry();
    const name = `${reg.host}/serve-docker/app:1`;
    s.docker(['tag', 'app:1', name]);
    const pushed = s.docker(['push', name]);
    assert.match(pushed, /digest: sha256:[0-9a-f]{64} size: \d+/);
    const id = s.docker(['image', 'inspect', '--format', '{{.Id}}', name]).trim();
    s.docker(['rmi', name]);
    assert.notEqual(s.run('/usr/bin/docker', ['image', 'inspect', name]).code, 0);
    const pulled = s.docker(['pull', name]);
    assert.match(pulled, /Digest: sha256:/);
    assert.equal(s.docker(['image', 'inspect', '--format', '{{.Id}}', name]).trim(), id);
  });

  it('docker save | docker load round-trips an image', async () => {
    const tar = join(s.dir, 'app.tar');
    s.docker(['tag', 'app:1', 'roundtrip:1']);
    const id = s.docker(['image', 'inspect', '--format', '{{.Id}}', 'roundtrip:1']).trim();
    s.docker(['save', '-o', tar, 'roundtrip:1']);
    assert.ok(existsSync(tar));
    s.docker(['rmi', 'roundtrip:1']);
    assert.notEqual(s.run('/usr/bin/docker', ['image', 'inspect', 'roundtrip:1']).code, 0);
    const loaded = s.docker(['load', '-i', tar]);
    assert.match(loaded, /Loaded image: roundtrip:1/);
    assert.equal(s.docker(['image', 'inspect', '--format', '{{.Id}}', 'roundtrip:1']).trim(), id);
  });

  it('docker rmi untags, then deletes', async () => {
    s.docker(['tag', 'app:1', 'gone:1']);
    const untag = s.docker(['rmi', 'gone:1']);
    assert.match(untag, /Untagged: gone:1/);
    const r = s.run('/usr/bin/docker', ['rmi', 'nosuch:image']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /No such image: nosuch:image/);
  });

  it('endpoints kiln does not serve answer 501 naming kiln and the endpoint', async () => {
    const r = s.run('/usr/bin/docker', ['ps']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /kiln does not serve GET \/containers\/json/);
    const v = s.run('/usr/bin/docker', ['volume', 'ls']);
    assert.match(v.err, /kiln does not serve GET \/volumes/);
  });

  it('docker version and system df report the engine and its disk use', async () => {
    const v = s.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
    assert.match(v.trim(), /^1\.\d+ linux$/);
    const df = s.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
    assert.match(df, /^Images \d+$/m);
    assert.match(df, /^Build Cache \d+$/m);
  });

  it('the Docker 28 CLI builds with DOCKER_BUILDKIT=0 and lists images', {
    skip: !existsSync('/usr/local/bin/docker') && 'no /usr/local/bin/docker',
  }, async () => {
    const ctx = await s.context({ Dockerfile: 'FROM busybox\nRUN echo new > /new\n' });
    const b = s.run('/usr/local/bin/docker', ['build', '-t', 'new-cli:1', ctx]);
    assert.equal(b.code, 0, b.err + b.out);
    const ls = s.run('/usr/local/bin/docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(ls.code, 0, ls.err);
    assert.match(ls.out, /^new-cli:1$/m);
  });
});
