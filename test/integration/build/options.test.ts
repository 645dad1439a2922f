/**
 * Options that were accepted and ignored: the README's library example, annotations (judged in
 * the store, an OCI layout and a registry read by skopeo), unknown and unsupported output keys,
 * `# check=error=true`, `# syntax=` and `--ssh default` without an agent.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../../src/digest/digest.ts';
import { build } from '../../../src/pipeline/build.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { buildContext, buildError, kiln, makeContext, openSuite, type Suite, scratch } from './helpers.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');

let suite: Suite;
let reg: TestRegistry;
before(async () => {
  suite = await openSuite('options');
  reg = await sharedRegistry();
});
after(() => suite.close());

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field
const blobJson = async (digest: Digest): Promise<any> =>
  JSON.parse((await suite.store.content.readBlob(digest)).toString('utf8'));

describe("the README's library example", () => {
  it('runs as written and stores the tagged image', async () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## As a library'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(code, 'the README has a ts block under "As a library"');
    assert.match(code, /build\(\{ context: '\.', tags: \['app:1'\]/);
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nLABEL from=readme\n' });
    const dir = await scratch(suite, 'readme');
    const file = join(dir, 'example.mts');
    // The example as written, its import pointed at this checkout; then print what it returned.
    const source = code.replaceAll("from 'kiln'", `from '${REPO}/src/index.ts'`);
    await writeFile(file, `${source}\nconsole.log(JSON.stringify(result.imageId));\n`);
    const r = spawnSync(process.execPath, [file], {
      cwd: ctx,
      encoding: 'utf8',
      env: { ...process.env, KILN_ROOT: suite.root },
    });
    assert.equal(r.status, 0, r.stderr);
    const id: Digest = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');
    const stored = await suite.store.images.get(normalizeReference('app:1'));
    assert.ok(stored, 'app:1 is in the image store');
    const manifest = await blobJson(stored.target.digest);
    assert.equal(manifest.config.digest, id);
    assert.equal((await blobJson(id)).config.Labels.from, 'readme');
  });

  it('a request without a context is INVALID_BUILD_INPUT, not a TypeError', async () => {
    await assert.rejects(build({} as never, { store: suite.store }), { code: 'INVALID_BUILD_INPUT' });
  });
});

describe('annotations', () => {
  const DOCKERFILE = 'FROM busybox\nLABEL annotated=yes\n';

  it('annotation keys of an output reach the manifest and, in an OCI layout, its descriptor', async () => {
    const ctx = await makeContext(suite, { Dockerfile: DOCKERFILE });
    const layout = join(await scratch(suite, 'layout'), 'oci');
    const b = await buildContext(suite, ctx, {
      tags: ['kiln-spec/annotated:1'],
      noLocal: true,
      output: [
        `type=oci,tar=false,dest=${layout},annotation.org.opencontainers.image.title=T,annotation-manifest-descriptor.d=D`,
      ],
    });
    const oci = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const desc = oci.manifests[0];
    assert.deepEqual(desc.annotations?.d, 'D');
    const manifest = JSON.parse(readFileSync(join(layout, 'blobs', ...desc.digest.split(':')), 'utf8'));
    assert.deepEqual(manifest.annotations, { 'org.opencontainers.image.title': 'T' });
    // The image store's variant (no annotations asked for there) is the same image, unannotated.
    const stored = await suite.store.images.get(normalizeReference('kiln-spec/annotated:1'));
    assert.equal((await blobJson(stored!.target.digest)).annotations, undefined);
    assert.equal(b.result.platforms.length, 1);
  });

  it('--annotation puts index, per-platform manifest and plain annotations where buildx does (skopeo reads the push)', async () => {
    const ctx = await makeContext(suite, { Dockerfile: DOCKERFILE });
    const ref = `${reg.host}/kiln-spec/annotated:multi`;
    const r = kiln(suite, [
      'build',
      '--progress=quiet',
      '--platform',
      'linux/amd64,linux/arm64',
      '-t',
      ref,
      '--push',
      '--annotation',
      'index:org.opencontainers.image.description=both',
      '--annotation',
      'manifest[linux/arm64]:only=arm',
      '--annotation',
      'plain=all',
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    const raw = (what: string) =>
      JSON.parse(
        execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${what}`], {
          encoding: 'utf8',
        }),
      );
    const index = raw(ref);
    assert.deepEqual(index.annotations, { 'org.opencontainers.image.description': 'both' });
    const byArch = new Map<string, string>(
      index.manifests.map((m: { platform: { architecture: string }; digest: string }) => [
        m.platform.architecture,
        m.digest,
      ]),
    );
    const repo = ref.slice(0, ref.lastIndexOf(':'));
    assert.deepEqual(raw(`${repo}@${byArch.get('arm64')}`).annotations, { only: 'arm', plain: 'all' });
    assert.deepEqual(raw(`${repo}@${byArch.get('amd64')}`).annotations, { plain: 'all' });
  });

  it('index annotations on a single-platform build fail before it runs, as BuildKit refuses them', async () => {
    const err = await buildError(
      suite,
      'FROM busybox\nRUN echo ran\n',
      {},
      {
        noLocal: true,
        output: ['type=image,annotation-index.a=b'],
      },
    );
    assert.equal(err.code, 'INVALID_OUTPUT');
    assert.match(err.message, /index annotations not supported for single platform export/);
  });
});

describe('output keys on the command line', () => {
  it('an unknown key fails the build naming the key, the type and the keys it takes, with no stack trace', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\n' });
    const r = kiln(suite, ['build', '-o', 'type=image,name=x,bogus-key=1', ctx]);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown output option "bogus-key" for type=image/);
    assert.match(r.err, /type=image accepts: type, name, push/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  });
});

describe('directives', () => {
  it('check=error=true shows the warnings, then fails with LINT_VIOLATION before any step runs', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile:
        '# syntax=docker/dockerfile:1\n# check=error=true\nFROM busybox\nRUN echo ran > /ran\nCMD echo hi\n',
    });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /JSONArgsRecommended: JSON arguments recommended/);
    assert.match(r.err, /lint violation found for rules: JSONArgsRecommended/);
    assert.match(r.err, /using the built-in Dockerfile frontend for docker\/dockerfile:1/);
    assert.doesNotMatch(r.err, /RUN echo ran/);
  });

  it('a gateway frontend in # syntax= is run; one that cannot be had fails at its line', async () => {
    // (test/integration/frontends/gateway.test.ts runs real ones.)
    const err = await buildError(suite, '# syntax=127.0.0.1:1/frontend:1\nFROM busybox\n');
    assert.notEqual(err.code, 'FRONTEND_UNSUPPORTED');
    assert.match(err.message, /^frontend image 127\.0\.0\.1:1\/frontend:1: .*ECONNREFUSED/);
    assert.equal(err.location?.startLine, 1);
  });
});

describe('--ssh', () => {
  it('default without SSH_AUTH_SOCK is an error, as in buildx, not a build without the agent', async () => {
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const err = await buildError(
        suite,
        'FROM busybox\nRUN --mount=type=ssh true\n',
        {},
        {
          ssh: [{ id: 'default', paths: [] }],
        },
      );
      assert.equal(err.code, 'SSH_AGENT_MISSING');
      assert.match(err.message, /invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set/);
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });
});
