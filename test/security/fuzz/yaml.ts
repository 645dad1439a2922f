/**
 * Fuzz target: kiln YAML build files, random from a grammar of every field (with hostile
 * values: shell metacharacters, `..`, aliases, anchors, tags, odd scalars) or byte-mutated from
 * a few complete files, read and compiled and converted to a graph against a resolver that
 * answers for every image. convertYaml must return or throw a KilnError.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is YAML/Dockerfile syntax, not a template
import { convertYaml } from '../../../src/frontend/yaml/convert.ts';
import type { Platform } from '../../../src/oci/platform.ts';
import { mutate, type Rng } from './random.ts';
import type { FuzzTarget } from './target.ts';

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

const SEEDS = [
  `apiVersion: v1alpha1
images:
- name: demo
  from: debian:bookworm
  package:
    install: [ca-certificates, curl]
  external:
  - src: https://example.org/tool
    dst: /usr/local/bin/tool
    sha256: ${'a'.repeat(64)}
  - src: https://example.org/helm.tar.gz
    dst: /tmp/helm
    install:
    - install /tmp/helm/linux-amd64/helm /usr/local/bin/helm
`,
  `apiVersion: v1alpha1
images:
- name: build
  from: busybox
  run: [make, "echo $A"]
- name: app
  from: build
  platforms: [linux/amd64, linux/arm64]
  args: {V: "1", N: 2}
  env: {A: "x y", B: $V, C: true}
  labels: {l: v}
  workdir: /app
  copy:
  - {src: [a, b], dst: ./, chmod: "0755", chown: "1:1"}
  - {src: /out, dst: /bin/out, from: build}
  user: app
  expose: [80, 53/udp]
  entrypoint: [/bin/app]
  cmd: serve
`,
].map((s) => Buffer.from(s));

const INTERESTING = [
  '&a ',
  '*a',
  '!!binary ',
  '!!str ',
  '<<: *a\n',
  '${',
  '$(rm -rf /)',
  '\\',
  '"',
  "'",
  '..',
  '\n- ',
  ': ',
  '{',
  '[',
  '\t',
  '\u0000',
  '---\n',
  '%YAML 1.1\n',
  '? ',
].map((s) => Buffer.from(s));

/** A YAML scalar: mostly a plain word (so most files get past the schema), else a hostile one. */
function value(rng: Rng): string {
  if (rng.chance(0.6)) return rng.string(1 + rng.int(8), 'abcxyz0123-_');
  if (rng.chance(0.5))
    return JSON.stringify(rng.string(1 + rng.size(40), 'ab/.$-_: "\'\\{}[]();&|`\n\u0000'));
  return rng.pick([
    'x',
    '"a b"',
    "'it''s'",
    '$A',
    '${A:-b}',
    '../../etc',
    '/',
    '"; rm -rf / #"',
    '"--from=x"',
    '1e400',
    '0x10',
    'null',
    '~',
    'yes',
    '[a, b]',
    '{a: 1}',
    '*a',
    '&a v',
    `"${'x'.repeat(rng.size(3000))}"`,
    rng.string(1 + rng.size(12), 'abc/.$-_: "\'\\{}[]'),
  ]);
}

function image(rng: Rng, i: number, names: string[]): string {
  const fields: string[] = [
    `- name: ${rng.chance(0.9) ? `i${i}` : value(rng)}`,
    `  from: ${rng.chance(0.5) && names.length ? rng.pick(names) : rng.pick(['busybox', 'scratch', value(rng)])}`,
  ];
  const maybe = (p: number, f: () => string) => {
    if (rng.chance(p)) fields.push(f());
  };
  maybe(0.3, () => `  args: {${rng.pick(['A', 'B', value(rng)])}: ${value(rng)}}`);
  maybe(0.3, () => `  env: {${rng.pick(['A', 'B', value(rng)])}: ${value(rng)}}`);
  maybe(0.2, () => `  labels: {${value(rng)}: ${value(rng)}}`);
  maybe(0.2, () => `  workdir: ${value(rng)}`);
  maybe(
    0.3,
    () =>
      `  package:\n    install: [${Array.from({ length: rng.int(4) }, () => rng.pick(['curl', 'a+b', value(rng)])).join(', ')}]`,
  );
  maybe(
    0.3,
    () =>
      `  external:\n  - src: ${rng.pick(['https://e.org/x.tar.gz', 'http://[', 'https://e.org/t?x=.tgz', value(rng)])}\n    dst: ${value(rng)}${rng.chance(0.5) ? `\n    sha256: ${rng.pick(['a'.repeat(64), value(rng)])}` : ''}${rng.chance(0.5) ? `\n    install: [${value(rng)}]` : ''}`,
  );
  maybe(
    0.4,
    () =>
      `  copy:\n  - {src: ${value(rng)}, dst: ${value(rng)}${rng.chance(0.4) ? `, from: ${rng.chance(0.5) && names.length ? rng.pick(names) : value(rng)}` : ''}${rng.chance(0.2) ? `, chmod: ${value(rng)}` : ''}}`,
  );
  maybe(0.4, () => `  run: ${rng.chance(0.5) ? value(rng) : `[${value(rng)}, ${value(rng)}]`}`);
  maybe(0.2, () => `  user: ${value(rng)}`);
  maybe(0.2, () => `  expose: [${rng.pick(['80', '0', '70000', '53/udp', value(rng)])}]`);
  maybe(0.2, () => `  entrypoint: ${value(rng)}`);
  maybe(0.2, () => `  cmd: ${value(rng)}`);
  maybe(0.1, () => `  platforms: [${rng.pick(['linux/amd64', 'linux/arm64/v8', value(rng)])}]`);
  maybe(0.05, () => `  ${value(rng)}: ${value(rng)}`);
  return fields.join('\n');
}

function randomYaml(rng: Rng): string {
  const names: string[] = [];
  const images: string[] = [];
  for (let i = rng.int(5); i >= 0; i--) {
    images.push(image(rng, images.length, names));
    names.push(`i${images.length - 1}`);
  }
  return `${rng.chance(0.9) ? 'apiVersion: v1alpha1\n' : ''}images:\n${images.join('\n')}\n`;
}

export const target: FuzzTarget = {
  name: 'yaml',
  caseTimeoutMs: 10_000,
  async run(rng) {
    const text = rng.chance(0.5)
      ? randomYaml(rng)
      : mutate(rng, rng.pick(SEEDS), INTERESTING).toString(rng.chance(0.9) ? 'utf8' : 'latin1');
    await convertYaml(text, {
      file: 'fuzz.yaml',
      buildArgs: rng.chance(0.2) ? { A: value(rng) } : {},
      platform: AMD64,
      buildPlatform: AMD64,
      target: rng.chance(0.1) ? rng.pick(['i0', 'i1', value(rng)]) : undefined,
      resolver: {
        async resolveImageConfig(ref, platform) {
          return {
            ref: `${ref}@sha256:${'b'.repeat(64)}`,
            config: {
              architecture: platform.architecture,
              os: platform.os,
              rootfs: { type: 'layers', diff_ids: [] },
              config: { Env: ['PATH=/bin'] },
            },
          };
        },
      },
    });
  },
};
