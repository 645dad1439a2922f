/**
 * The kiln YAML frontend end to end through `kiln build -f kiln.yaml`: the mockerfile-style
 * example (packages through the base image's own package manager with its caches kept out of
 * the layer, downloads checked by sha256, an archive unpacked and installed from) against local
 * fixtures (busybox bases with a fake `apt-get` or `apk`, an HTTP server on 127.0.0.1), kiln's
 * extensions (a second image built from the first, copies from the context and from another
 * image, config), and errors that point at file:line:column.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, kilnImportBase } from '../../fidelity/builders.ts';
import { makeWorkspace, type Workspace } from '../../fidelity/corpus.ts';

const FAKE_APT = `#!/bin/sh
# A stand-in for apt-get: "installs" a package as a file, keeps its lists in /var/lib/apt/lists.
case "$1" in
update) mkdir -p /var/lib/apt/lists && echo lists > /var/lib/apt/lists/fake-index ;;
install) shift; [ -f /var/lib/apt/lists/fake-index ] || { echo "no lists: run update" >&2; exit 100; }
  mkdir -p /var/cache/apt/archives /usr/share/fake-pkgs
  for p in "$@"; do case "$p" in -*) ;; *) echo "$p" > /usr/share/fake-pkgs/$p; echo deb > /var/cache/apt/archives/$p.deb ;; esac; done ;;
*) exit 2 ;;
esac
`;
const FAKE_APK = `#!/bin/sh
[ "$1" = add ] || exit 2; shift
mkdir -p /var/cache/apk /usr/share/fake-pkgs && echo index > /var/cache/apk/APKINDEX.fake
for p in "$@"; do echo "apk $p" > /usr/share/fake-pkgs/$p; done
`;

/** Run kiln without blocking this process: the HTTP server the build downloads from lives here. */
function kiln(
  root: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KILN, ['--root', root, ...args], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function ok(root: string, args: string[]): Promise<string> {
  const r = await kiln(root, args);
  assert.equal(r.status, 0, `kiln ${args.join(' ')}:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

describe('kiln build -f kiln.yaml', () => {
  let ws: Workspace;
  let root: string;
  let server: Server;
  let base = '';
  const tool = Buffer.from('#!/bin/sh\necho tool 1.0\n');
  let bundle: Buffer;
  before(async () => {
    ws = makeWorkspace(mkdtempSync(join(tmpdir(), 'kiln-yaml-')));
    root = join(ws.scratch, 'root');
    mkdirSync(root);
    kilnImportBase(root, ws.rootfsTar);
    // Bases with a package manager: busybox with a fake apt-get, and with a fake apk.
    for (const [tag, path, script] of [
      ['fake-debian:1', 'usr/bin/apt-get', FAKE_APT],
      ['fake-alpine:1', 'sbin/apk', FAKE_APK],
    ] as const) {
      const ctx = join(ws.scratch, tag.replace(/\W/g, '-'));
      mkdirSync(ctx);
      writeFileSync(join(ctx, 'pm'), script);
      chmodSync(join(ctx, 'pm'), 0o755);
      writeFileSync(join(ctx, 'Dockerfile'), `FROM busybox:latest\nCOPY pm /${path}\n`);
      await ok(root, ['build', '-q', '-t', tag, ctx]);
    }
    const src = join(ws.scratch, 'bundle');
    mkdirSync(join(src, 'linux-amd64'), { recursive: true });
    writeFileSync(join(src, 'linux-amd64/helm'), '#!/bin/sh\necho helm\n');
    chmodSync(join(src, 'linux-amd64/helm'), 0o755);
    execFileSync('tar', ['-czf', join(ws.scratch, 'helm.tar.gz'), '-C', src, 'linux-amd64']);
    bundle = readFileSync(join(ws.scratch, 'helm.tar.gz'));
    server = createServer((req, res) => {
      const body = req.url === '/tool' ? tool : req.url === '/helm.tar.gz' ? bundle : undefined;
      res.writeHead(body ? 200 : 404, { 'content-length': body?.length ?? 0 });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server?.close();
    if (ws) rmSync(ws.scratch, { recursive: true, force: true });
  });

  function project(yaml: string): string {
    const dir = mkdtempSync(join(ws.scratch, 'proj-'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/app.sh'), 'echo app\n');
    writeFileSync(join(dir, 'kiln.yaml'), yaml);
    return dir;
  }

  it('builds the mockerfile example: packages, checked downloads, an archive installed from', async () => {
    const sum = createHash('sha256').update(tool).digest('hex');
    const dir = project(`apiVersion: v1alpha1
images:
- name: demo
  from: fake-debian:1
  package:
    install: [ca-certificates, curl]
  external:
  - src: ${base}/tool
    dst: /usr/local/bin/tool
    sha256: ${sum}
  - src: ${base}/helm.tar.gz
    dst: /tmp/helm
    install:
    - cp /tmp/helm/linux-amd64/helm /usr/local/bin/helm
`);
    const out = join(dir, 'out');
    await ok(root, ['build', '-q', '-f', join(dir, 'kiln.yaml'), '-o', `type=local,dest=${out}`, dir]);
    assert.equal(readFileSync(join(out, 'usr/share/fake-pkgs/curl'), 'utf8'), 'curl\n');
    assert.equal(readFileSync(join(out, 'usr/share/fake-pkgs/ca-certificates'), 'utf8'), 'ca-certificates\n');
    // The package manager's lists and downloads were in cache mounts, not in the layer.
    assert.ok(!existsSync(join(out, 'var/lib/apt/lists/fake-index')));
    assert.ok(!existsSync(join(out, 'var/cache/apt/archives/curl.deb')));
    assert.deepEqual(readFileSync(join(out, 'usr/local/bin/tool')), tool);
    assert.equal(statSync(join(out, 'usr/local/bin/tool')).mode & 0o777, 0o755);
    assert.equal(readFileSync(join(out, 'usr/local/bin/helm'), 'utf8'), '#!/bin/sh\necho helm\n');
    // The unpacked archive was only mounted while `install` ran (busybox has no install(1): cp).
    assert.ok(!existsSync(join(out, 'tmp/helm/linux-amd64')));
  });

  it('uses apk where the base has apk', async () => {
    const dir = project(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: fake-alpine:1\n  package:\n    install: [jq]\n',
    );
    const out = join(dir, 'out');
    await ok(root, ['build', '-q', '-f', join(dir, 'kiln.yaml'), '-o', `type=local,dest=${out}`, dir]);
    assert.equal(readFileSync(join(out, 'usr/share/fake-pkgs/jq'), 'utf8'), 'apk jq\n');
    assert.ok(!existsSync(join(out, 'var/cache/apk/APKINDEX.fake')));
  });

  it('refuses a download whose sha256 does not match', async () => {
    const dir = project(
      `apiVersion: v1alpha1\nimages:\n- name: a\n  from: busybox:latest\n  external:\n  - src: ${base}/tool\n    dst: /tool\n    sha256: ${'f'.repeat(64)}\n`,
    );
    const r = await kiln(root, ['build', '-q', '-f', join(dir, 'kiln.yaml'), dir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /digest mismatch|checksum/i);
  });

  it("builds kiln's extensions: a second image from the first, copies, config", async () => {
    const dir = project(`apiVersion: v1alpha1
images:
- name: build
  from: busybox:latest
  run: mkdir -p /out && echo built > /out/artifact
- name: app
  from: build
  args: {VERSION: "1.2"}
  env: {GREETING: "hello world", V: $VERSION}
  labels: {org.example.name: app}
  workdir: /app
  copy:
  - {src: src/app.sh, dst: ./, chmod: "0755"}
  - {src: /out/artifact, dst: /app/artifact, from: build}
  run:
  - test -f /app/app.sh
  - echo "$GREETING" > /app/greeting
  user: "1000:1000"
  expose: [8080, 53/udp]
  entrypoint: [/bin/sh, /app/app.sh]
  cmd: [--serve]
`);
    await ok(root, ['build', '-q', '-f', join(dir, 'kiln.yaml'), '-t', 'yaml-app:1', dir]);
    const cfg = JSON.parse(await ok(root, ['image', 'inspect', 'yaml-app:1']))[0].Config;
    assert.ok(cfg.Env.includes('GREETING=hello world'));
    assert.ok(cfg.Env.includes('V=1.2'));
    assert.equal(cfg.WorkingDir, '/app');
    assert.equal(cfg.User, '1000:1000');
    assert.deepEqual(cfg.Entrypoint, ['/bin/sh', '/app/app.sh']);
    assert.deepEqual(cfg.Cmd, ['--serve']);
    assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ['53/udp', '8080/tcp']);
    assert.equal(cfg.Labels['org.example.name'], 'app');
    const out = join(dir, 'out');
    await ok(root, ['build', '-q', '-f', join(dir, 'kiln.yaml'), '-o', `type=local,dest=${out}`, dir]);
    assert.equal(readFileSync(join(out, 'app/greeting'), 'utf8'), 'hello world\n');
    assert.equal(readFileSync(join(out, 'app/artifact'), 'utf8'), 'built\n');
    assert.equal(statSync(join(out, 'app/app.sh')).mode & 0o777, 0o755);
  });

  it('points errors at file:line:column', async () => {
    const dir = project(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: busybox:latest\n  runn: echo hi\n',
    );
    const r = await kiln(root, ['build', '-f', join(dir, 'kiln.yaml'), dir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /kiln\.yaml:3:3: images\.0: unknown member "runn"/);
    const dir2 = project(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: busybox:latest\n  package:\n    install: ["curl; rm -rf /"]\n',
    );
    const r2 = await kiln(root, ['build', '-f', join(dir2, 'kiln.yaml'), dir2]);
    assert.match(r2.stderr, /kiln\.yaml:6:15: images\.0\.package\.install\.0: .* is not a package name/);
    const dir3 = project(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: b\n- name: b\n  from: busybox:latest\n',
    );
    const r3 = await kiln(root, ['build', '-f', join(dir3, 'kiln.yaml'), dir3]);
    assert.match(r3.stderr, /kiln\.yaml:4:9: image "b" is listed after the image that uses it/);
  });
});
