/**
 * `kiln build --sbom --provenance=mode=max --push`: the pushed image is an index with, per
 * platform, an attestation manifest as BuildKit stores one (platform unknown/unknown,
 * `vnd.docker.reference.*` annotations, in-toto layers annotated with their predicate type),
 * read back by skopeo and by the registry's own blob API. The SBOM lists exactly the dpkg and
 * npm packages the image holds (not a removed one, not a nested package.json, not what a
 * symlink out of the image points at); the provenance pins the base image. Without the flags
 * the image is as before: a plain manifest.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { kiln, makeContext, openSuite, type Suite } from './helpers.ts';

/** Parsed JSON from the registry, read field by field. */
type Json = ReturnType<typeof JSON.parse>;

let suite: Suite;
let reg: TestRegistry;
let ctx: string;

const STATUS = `Package: libfoo1
Status: install ok installed
Architecture: amd64
Version: 1.2.3-1
Description: a library
 that spans lines

Package: bar-utils
Status: install ok installed
Architecture: all
Version: 2:0.9+dfsg-4

Package: removed-pkg
Status: deinstall ok config-files
Version: 9.9
`;

const DOCKERFILE = `FROM busybox
ARG GREETING=hello
COPY status /var/lib/dpkg/status
COPY app /app
`;

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function rawManifest(ref: string): Json {
  return JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
}

/** A blob straight from the registry's API, checked against its digest. */
async function blob(repo: string, digest: string): Promise<Json> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `GET blob ${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
  return JSON.parse(bytes.toString('utf8'));
}

before(async () => {
  assert.equal(spawnSync('which', ['skopeo']).status, 0, 'skopeo is needed: run bash scripts/setup.sh');
  suite = await openSuite('attest');
  reg = await sharedRegistry();
  ctx = await makeContext(suite, {
    Dockerfile: DOCKERFILE,
    status: STATUS,
    'app/node_modules/left-pad/package.json': JSON.stringify({ name: 'left-pad', version: '1.3.0' }),
    // Not a package of its own: a package.json deeper inside one.
    'app/node_modules/left-pad/lib/package.json': JSON.stringify({ name: 'not-a-package', version: '0.0.1' }),
    'app/node_modules/@acme/widget/package.json': JSON.stringify({ name: '@acme/widget', version: '4.5.6' }),
  });
  // A symlink out of the image, to packages on the host: never followed.
  const host = join(suite.dir, 'host-packages');
  await mkdir(join(host, 'host-secret'), { recursive: true });
  await writeFile(
    join(host, 'host-secret', 'package.json'),
    JSON.stringify({ name: 'host-secret', version: '6.6.6' }),
  );
  await symlink(host, join(ctx, 'app/node_modules/escape'));
});
after(() => suite.close());

describe('kiln build --sbom --provenance=mode=max --push', () => {
  const repo = 'kiln-spec/attest';
  let index: Json;
  let image: Json;
  let att: Json;
  let attManifest: Json;

  before(() => {
    const r = kiln(suite, [
      'build',
      '-q',
      '--sbom',
      '--provenance=mode=max',
      '--push',
      '--build-arg',
      'GREETING=hi',
      '-t',
      `${reg.host}/${repo}:v1`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    index = rawManifest(`${reg.host}/${repo}:v1`);
  });

  it('pushes an index: the image manifest and its attestation manifest, as BuildKit stores them', () => {
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests.length, 2);
    [image, att] = index.manifests;
    assert.equal(image.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.notEqual(image.platform.architecture, 'unknown');
    assert.deepEqual(att.platform, { architecture: 'unknown', os: 'unknown' });
    assert.deepEqual(att.annotations, {
      'vnd.docker.reference.digest': image.digest,
      'vnd.docker.reference.type': 'attestation-manifest',
    });
    attManifest = rawManifest(`${reg.host}/${repo}@${att.digest}`);
    assert.equal(attManifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(
      attManifest.layers.map((l: Json) => [l.mediaType, l.annotations['in-toto.io/predicate-type']]),
      [
        ['application/vnd.in-toto+json', 'https://spdx.dev/Document'],
        ['application/vnd.in-toto+json', 'https://slsa.dev/provenance/v0.2'],
      ],
    );
  });

  it('the SBOM is a valid SPDX 2.3 document listing exactly the packages in the image', async () => {
    const st = await blob(repo, attManifest.layers[0].digest);
    assert.equal(st._type, 'https://in-toto.io/Statement/v0.1');
    assert.equal(st.predicateType, 'https://spdx.dev/Document');
    assert.equal(st.subject[0].digest.sha256, image.digest.slice('sha256:'.length));
    assert.match(st.subject[0].name, /^pkg:docker\/.*kiln-spec\/attest@v1\?platform=linux%2F/);
    const doc = st.predicate;
    // No SPDX 2.3 JSON schema is available offline: the fields it requires, checked by hand.
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.dataLicense, 'CC0-1.0');
    assert.equal(doc.SPDXID, 'SPDXRef-DOCUMENT');
    assert.equal(typeof doc.name, 'string');
    assert.match(doc.documentNamespace, /^https:\/\/[^#]+$/);
    assert.match(doc.creationInfo.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(doc.creationInfo.creators.every((c: string) => /^(Tool|Organization|Person): /.test(c)));
    const ids = new Set<string>();
    for (const p of doc.packages) {
      assert.match(p.SPDXID, /^SPDXRef-[A-Za-z0-9.-]+$/);
      assert.ok(!ids.has(p.SPDXID), `duplicate ${p.SPDXID}`);
      ids.add(p.SPDXID);
      assert.equal(typeof p.name, 'string');
      assert.equal(typeof p.versionInfo, 'string');
      assert.equal(p.downloadLocation, 'NOASSERTION');
      assert.equal(p.externalRefs[0].referenceType, 'purl');
    }
    for (const r of doc.relationships) {
      assert.equal(r.spdxElementId, 'SPDXRef-DOCUMENT');
      assert.ok(ids.has(r.relatedSpdxElement));
    }
    assert.deepEqual(
      doc.packages.map((p: Json) => [p.name, p.versionInfo, p.externalRefs[0].referenceLocator]).sort(),
      [
        ['@acme/widget', '4.5.6', 'pkg:npm/%40acme/widget@4.5.6'],
        ['bar-utils', '2:0.9+dfsg-4', 'pkg:deb/debian/bar-utils@2%3A0.9%2Bdfsg-4?arch=all'],
        ['left-pad', '1.3.0', 'pkg:npm/left-pad@1.3.0'],
        ['libfoo1', '1.2.3-1', 'pkg:deb/debian/libfoo1@1.2.3-1?arch=amd64'],
      ],
    );
  });

  it('the provenance (max) names the Dockerfile, pins the base image, and lists args and steps', async () => {
    const st = await blob(repo, attManifest.layers[1].digest);
    assert.equal(st.predicateType, 'https://slsa.dev/provenance/v0.2');
    const p = st.predicate;
    assert.equal(p.buildType, 'https://mobyproject.org/buildkit@v1');
    assert.equal(
      p.invocation.configSource.digest.sha256,
      createHash('sha256').update(DOCKERFILE).digest('hex'),
    );
    assert.equal(p.invocation.configSource.entryPoint, 'Dockerfile');
    assert.equal(p.invocation.parameters.args['build-arg:GREETING'], 'hi');
    assert.equal(p.materials.length, 1);
    assert.match(p.materials[0].uri, /^pkg:docker\/.*busybox@latest\?platform=linux%2F/);
    assert.match(p.materials[0].digest.sha256, /^[0-9a-f]{64}$/);
    assert.ok(p.buildConfig.llbDefinition.length >= 3, 'the build steps are listed');
    const started = Date.parse(p.metadata.buildStartedOn);
    const finished = Date.parse(p.metadata.buildFinishedOn);
    assert.ok(started <= finished && finished <= Date.now() + 1000);
  });
});

describe('attestation flags', () => {
  it('a build without them pushes a plain manifest, as before', () => {
    const ref = `${reg.host}/kiln-spec/attest:plain`;
    const r = kiln(suite, ['build', '-q', '--push', '-t', ref, ctx]);
    assert.equal(r.code, 0, r.err);
    const m = rawManifest(ref);
    assert.notEqual(m.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.ok(Array.isArray(m.layers));
  });

  it('--provenance (min) in front of the context: no build args, no steps; the image store keeps the index', async () => {
    const r = kiln(suite, [
      'build',
      '-q',
      '-t',
      'kiln-spec/attest:local',
      '--build-arg',
      'GREETING=x',
      '--provenance',
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    const shown = kiln(suite, ['image', 'inspect', '--format', 'json', 'kiln-spec/attest:local']);
    assert.equal(shown.code, 0, shown.err);
    const [info] = JSON.parse(shown.out);
    assert.equal(info.Attestations.length, 1);
    const a = info.Attestations[0];
    assert.equal(a.Type, 'provenance');
    assert.equal(a.PredicateType, 'https://slsa.dev/provenance/v0.2');
    assert.equal(a.Subject, info.Manifest.digest);
    assert.ok(!info.Platforms.includes('unknown/unknown'), info.Platforms.join(','));
    assert.equal(r.out.trim(), info.Id, 'the ID printed is the one the store shows (the index)');
    const p = JSON.parse((await suite.store.content.readBlob(a.Digest)).toString('utf8')).predicate;
    assert.equal(p.invocation.parameters.args, undefined, 'min mode lists no build args');
    assert.equal(p.buildConfig, undefined, 'min mode lists no steps');
    assert.equal(p.materials.length, 1);
  });

  it('several platforms: an attestation manifest each, about its own image; an OCI layout keeps them', async () => {
    const dest = join(suite.dir, 'multi-layout');
    const r = kiln(suite, [
      'build',
      '-q',
      '--platform',
      'linux/amd64,linux/arm64',
      '--attest',
      'type=sbom',
      '-o',
      `type=oci,dest=${dest},tar=false`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    const index = JSON.parse(skopeo(['inspect', '--raw', `oci:${dest}`]));
    const images = index.manifests.filter((m: Json) => m.platform.os !== 'unknown');
    const atts = index.manifests.filter((m: Json) => m.platform.os === 'unknown');
    assert.deepEqual(images.map((m: Json) => m.platform.architecture).sort(), ['amd64', 'arm64']);
    assert.deepEqual(
      atts.map((m: Json) => m.annotations['vnd.docker.reference.digest']).sort(),
      images.map((m: Json) => m.digest).sort(),
    );
    const blob = async (d: string) =>
      JSON.parse(await readFile(join(dest, 'blobs', 'sha256', d.slice('sha256:'.length)), 'utf8'));
    for (const a of atts) {
      const m = await blob(a.digest);
      const st = await blob(m.layers[0].digest);
      const img = images.find((i: Json) => i.digest === a.annotations['vnd.docker.reference.digest']);
      assert.ok(
        st.subject[0].name.endsWith(`platform=linux%2F${img.platform.architecture}`),
        st.subject[0].name,
      );
      assert.equal(st.predicate.packages.length, 4);
    }
  });

  it('refuses an unknown attestation type', () => {
    const r = kiln(suite, ['build', '--attest', 'type=vex', ctx]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /unknown attestation type "vex"/);
  });
});
