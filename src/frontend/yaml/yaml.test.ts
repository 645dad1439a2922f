import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hasCode, type KilnError } from '../../errors/errors.ts';
import { AMD64, convert, MemoryResolver } from '../dockerfile/convert/testing.ts';
import { convertYaml, yamlPlatforms } from './convert.ts';
import { parseKilnYaml } from './parse.ts';

const opts = () => ({ buildArgs: {}, platform: AMD64, buildPlatform: AMD64, resolver: new MemoryResolver() });

function refused(text: string, re: RegExp, code = 'YAML_INVALID'): KilnError {
  let caught: KilnError | undefined;
  assert.throws(
    () => parseKilnYaml(text, 'k.yaml'),
    (err: KilnError) => {
      caught = err;
      return (
        hasCode(err, code) && re.test(`${err.location?.startLine}:${err.location?.column}: ${err.message}`)
      );
    },
  );
  return caught!;
}

describe('kiln YAML', () => {
  it('gives the graph and config the same Dockerfile gives', async () => {
    const yaml = `apiVersion: v1alpha1
images:
- name: build
  from: alpine:3
  run: make
- name: app
  from: busybox
  args: {V: "1"}
  env: {A: "x y", B: $V}
  labels: {l: v}
  workdir: /app
  copy:
  - {src: [a, b], dst: /app/}
  - {src: /out, dst: /bin/out, from: build}
  run: [echo hi, echo "$A"]
  user: app
  expose: [80, 53/udp]
  entrypoint: [/bin/app]
  cmd: serve
`;
    const df = `FROM alpine:3 AS build
RUN make
FROM busybox AS app
ARG V=1
ENV A="x y" B=$V
LABEL l=v
WORKDIR /app
COPY a b /app/
COPY --from=build /out /bin/out
RUN echo hi
RUN echo "$A"
USER app
EXPOSE 80 53/udp
ENTRYPOINT ["/bin/app"]
CMD serve
`;
    const y = await convertYaml(yaml, { ...opts(), file: 'kiln.yaml' });
    const d = await convert(df);
    assert.equal(y.root?.digest, d.root?.digest);
    assert.deepEqual(y.config.history, d.config.history);
    assert.deepEqual(y.config, d.config);
    assert.ok(y.config.config?.Env?.includes('A=x y'));
  });

  it('keeps quotes and backslashes in values literal, and $NAME a reference', async () => {
    const y = await convertYaml(
      `apiVersion: v1alpha1\nimages:\n- name: a\n  from: busybox\n  args: {N: "1"}\n  env: {Q: "it's \\"q\\" \\\\ $N \\\\$N"}\n`,
      opts(),
    );
    assert.ok(y.config.config?.Env?.includes(`Q=it's "q" \\ 1 $N`), JSON.stringify(y.config.config?.Env));
  });

  it('installs packages in one RUN with the package managers caches mounted', async () => {
    const y = await convertYaml(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: debian\n  package:\n    install: [curl, ca-certificates]\n',
      opts(),
    );
    const run = y.definition.vertices.find((v) => v.op.type === 'exec');
    assert.ok(run?.op.type === 'exec');
    assert.match(run.op.args[2], /apt-get install -y --no-install-recommends curl ca-certificates/);
    assert.match(run.op.args[2], /apk add curl ca-certificates/);
    assert.deepEqual(
      run.op.mounts.filter((m) => m.type === 'cache').map((m) => m.target),
      ['/var/cache/apk', '/var/cache/apt', '/var/cache/dnf', '/var/lib/apt/lists'],
    );
  });

  it('points schema and YAML errors at line:column', () => {
    refused(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: b\n  rnu: x\n',
      /^3:3: images\.0: unknown member "rnu"/,
    );
    refused('apiVersion: v2\nimages: []\n', /^1:13: apiVersion: expected one of v1alpha1/);
    refused('apiVersion: v1alpha1\nimages:\n- name: a\n  from: [x\n', /not valid YAML|Flow sequence|end/i);
    refused('apiVersion: v1alpha1\napiVersion: v1alpha1\nimages: []\n', /^2:1: .*[Mm]ap keys must be unique/);
    refused(
      'apiVersion: v1alpha1\nimages:\n- name: Bad Name\n  from: x\n',
      /^3:9: images\.0\.name: "Bad Name" is not an image name/,
    );
    refused(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: x\n  package: {install: ["a && rm -rf /"]}\n',
      /is not a package name/,
    );
  });

  it('refuses an alias bomb without expanding it', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    refused(`${lines.join('\n')}\napiVersion: v1alpha1\nimages: []\n`, /alias|Excessive/i);
  });

  it('refuses images that build on later or unknown-order images, and reserved names', async () => {
    await assert.rejects(
      convertYaml(
        'apiVersion: v1alpha1\nimages:\n- name: a\n  from: b\n- name: b\n  from: busybox\n',
        opts(),
      ),
      (err: KilnError) => hasCode(err, 'YAML_INVALID_IMAGE') && err.location?.startLine === 4,
    );
    await assert.rejects(
      convertYaml('apiVersion: v1alpha1\nimages:\n- name: kiln-external-0\n  from: busybox\n', opts()),
      /kiln's own/,
    );
  });

  it('keeps an external dst one mount target, whatever it holds', async () => {
    const y = await convertYaml(
      "apiVersion: v1alpha1\nimages:\n- name: a\n  from: busybox\n  external:\n  - src: https://e.org/t.tgz\n    dst: '/x,from=busybox,source=/etc,target=/y\"'\n    install: [ls /x]\n",
      opts(),
    );
    const run = y.definition.vertices.find((v) => v.op.type === 'exec');
    assert.ok(run?.op.type === 'exec');
    assert.deepEqual(
      run.op.mounts.map((m) => m.target),
      ['/x,from=busybox,source=/etc,target=/y"'],
    );
  });

  it('refuses a key that is a list or a map', () => {
    refused(
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: b\n  env: {[x]: 1}\n',
      /^5:9: a key must be a plain value/,
    );
  });

  it('reads the target image platforms', () => {
    const text =
      'apiVersion: v1alpha1\nimages:\n- name: a\n  from: x\n  platforms: [linux/arm64, linux/amd64]\n';
    assert.deepEqual(yamlPlatforms(text, 'k.yaml'), ['linux/arm64', 'linux/amd64']);
  });

  it('documents exactly the fields it reads (docs/kiln-yaml.schema.json)', async () => {
    const doc = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../../docs/kiln-yaml.schema.json'), 'utf8'),
    );
    const { KILN_YAML_SCHEMA } = await import('./schema.ts');
    const images = KILN_YAML_SCHEMA.t === 'object' ? KILN_YAML_SCHEMA.fields.images : undefined;
    const image = images?.t === 'array' && images.of.t === 'object' ? images.of : undefined;
    assert.ok(image);
    assert.deepEqual(Object.keys(doc.$defs.image.properties).sort(), Object.keys(image.fields).sort());
    assert.deepEqual(
      doc.$defs.image.required.sort(),
      Object.keys(image.fields)
        .filter((k) => !image.optional.has(k))
        .sort(),
    );
  });
});
