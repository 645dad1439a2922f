/**
 * Gateway frontends: a frontend image built by kiln itself (busybox and a shell script) turns a
 * tiny custom format (`NAME=CONTENT` lines) into a graph definition that kiln solves, chosen by
 * `# syntax=IMAGE` or by `--frontend gateway --opt source=IMAGE`; it runs without a network and
 * sees its request read-only. A frontend that exits non-zero, prints junk or hangs past its
 * limit gives a clear error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, kilnImportBase } from '../../fidelity/builders.ts';
import { makeWorkspace, type Workspace } from '../../fidelity/corpus.ts';

/** The frontend: each `NAME=CONTENT` line becomes /NAME holding CONTENT, on scratch (and /net, /request). */
const FRONTEND = readFileSync(join(import.meta.dirname, 'testdata/tiny-frontend.sh'), 'utf8');

describe('gateway frontends', () => {
  let ws: Workspace;
  let root: string;
  let ctx: string;
  const kiln = (args: string[]) => spawnSync(KILN, ['--root', root, ...args], { encoding: 'utf8' });
  /** Build a frontend image with kiln: busybox with `script` as its entrypoint. */
  const frontendImage = (tag: string, script: string) => {
    const dir = mkdtempSync(join(ws.scratch, 'fe-'));
    writeFileSync(join(dir, 'frontend.sh'), script);
    writeFileSync(
      join(dir, 'Dockerfile'),
      'FROM busybox:latest\nCOPY frontend.sh /frontend.sh\nENTRYPOINT ["/bin/sh", "/frontend.sh"]\n',
    );
    const r = kiln(['build', '-q', '-t', tag, dir]);
    assert.equal(r.status, 0, r.stderr);
  };
  before(() => {
    ws = makeWorkspace(mkdtempSync(join(tmpdir(), 'kiln-gateway-')));
    root = join(ws.scratch, 'root');
    mkdirSync(root);
    kilnImportBase(root, ws.rootfsTar);
    frontendImage('tiny-frontend:1', FRONTEND);
    frontendImage('fails:1', 'echo "line 2: cannot make sense of this" >&2\nexit 3\n');
    frontendImage('junk:1', 'echo "hello, I am not a graph"\n');
    frontendImage('hangs:1', 'sleep 600\n');
    ctx = join(ws.scratch, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'site.tiny'), '# syntax=tiny-frontend:1\nhello=world\ngreeting=hi there\n');
    writeFileSync(join(ctx, 'plain.tiny'), 'hello=again\n');
  });
  after(() => {
    if (ws) rmSync(ws.scratch, { recursive: true, force: true });
  });

  it('# syntax=IMAGE runs the image, network-less and read-only, and solves the graph it prints', () => {
    const out = join(ws.scratch, 'out1');
    const r = kiln(['build', '-q', '-f', join(ctx, 'site.tiny'), '-o', `type=local,dest=${out}`, ctx]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(out, 'hello'), 'utf8'), 'world\n');
    assert.equal(readFileSync(join(out, 'greeting'), 'utf8'), 'hi there\n');
    assert.equal(readFileSync(join(out, 'net'), 'utf8'), 'lo \n');
    assert.equal(readFileSync(join(out, 'request'), 'utf8'), 'read-only\n');
  });

  it('--frontend gateway --opt source=IMAGE does the same for any file, into an image', () => {
    const r = kiln([
      'build',
      '-q',
      '--frontend',
      'gateway',
      '--opt',
      'source=tiny-frontend:1',
      '-f',
      join(ctx, 'plain.tiny'),
      '-t',
      'tiny:1',
      ctx,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(kiln(['image', 'inspect', 'tiny:1']).stdout)[0].Config;
    assert.deepEqual(cfg.Cmd, ['/hello']);
  });

  it('a frontend that fails, prints junk or hangs gives a clear error', () => {
    const build = (image: string, ...extra: string[]) =>
      kiln([
        'build',
        '--frontend',
        'gateway',
        '--opt',
        `source=${image}`,
        ...extra,
        '-f',
        join(ctx, 'plain.tiny'),
        ctx,
      ]);
    const failed = build('fails:1');
    assert.notEqual(failed.status, 0);
    assert.match(
      failed.stderr,
      /frontend image fails:1 failed: exited with code 3; it said:\nline 2: cannot make sense of this\nhint:/,
    );
    const junk = build('junk:1');
    assert.match(junk.stderr, /frontend image junk:1 printed no valid graph: .*is not JSON/);
    assert.match(junk.stderr, /hello, I am not a graph/);
    const started = Date.now();
    const hung = build('hangs:1', '--opt', 'timeout=2');
    assert.match(hung.stderr, /frontend image hangs:1 did not finish within 2 s/);
    assert.ok(Date.now() - started < 30_000, 'the hung frontend was stopped');
    const none = kiln(['build', '--frontend', 'gateway', '-f', join(ctx, 'plain.tiny'), ctx]);
    assert.match(none.stderr, /--frontend gateway needs the frontend image/);
  });

  it('# syntax=docker/dockerfile:1 is the built-in Dockerfile frontend, not a gateway', () => {
    const dir = mkdtempSync(join(ws.scratch, 'df-'));
    writeFileSync(
      join(dir, 'Dockerfile'),
      '# syntax=docker/dockerfile:1.7\nFROM busybox:latest\nRUN echo ok > /ok\n',
    );
    const r = kiln(['build', '-q', '--progress', 'quiet', dir]);
    assert.equal(r.status, 0, r.stderr);
  });
});
