/**
 * The converter's image config and history against BuildKit's, for every case of the fidelity
 * corpus (test/fidelity: Dockerfiles built by BuildKit, their configs kept as golden data).
 * The reference BuildKit is older than the one kiln follows; the few history texts that changed
 * between versions (EXPOSE, HEALTHCHECK, COPY flags, ARG with a --build-arg) are normalized.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HistoryEntry, ImageConfig } from '../../../oci/config.ts';
import { convertDockerfile } from './convert.ts';
import { AMD64 } from './testing.ts';

const ROOT = join(import.meta.dirname, '../../../../test/fidelity');
const CASES = join(ROOT, 'cases');
const EXPECTED = join(ROOT, 'testdata/expected');

/** The busybox base the corpus builds on, as far as the converter can see it. */
const busybox: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] },
  history: [{ created_by: '' }],
  config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
};
const resolver = { resolveImageConfig: async (ref: string) => ({ ref, config: structuredClone(busybox) }) };

function normalize(created: string, overridden: Set<string>): string {
  const kw = created.split(' ')[0];
  if (kw === 'EXPOSE' || kw === 'HEALTHCHECK') return kw;
  if (kw === 'COPY' || kw === 'ADD') return created.replace(/ --(chown|chmod)=\S+/g, '');
  if (kw === 'ARG' && [...overridden].some((k) => created.includes(` ${k}=`))) return kw;
  return created;
}

const cases = existsSync(CASES)
  ? readdirSync(CASES)
      .filter((n) => existsSync(join(EXPECTED, `${n}.json`)))
      .sort()
  : [];

describe('config and history match BuildKit on the fidelity corpus', () => {
  it('finds the corpus', () => assert.ok(cases.length >= 30, `only ${cases.length} cases under ${CASES}`));
  for (const name of cases) {
    it(name, async () => {
      const dir = join(CASES, name);
      const spec = existsSync(join(dir, 'case.json'))
        ? JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'))
        : {};
      const expected = JSON.parse(readFileSync(join(EXPECTED, `${name}.json`), 'utf8'));
      const source = readFileSync(join(dir, spec.buildkitDockerfile ?? 'Dockerfile'), 'utf8');
      const r = await convertDockerfile(source, {
        buildArgs: spec.buildArgs ?? {},
        target: spec.target,
        platform: AMD64,
        buildPlatform: AMD64,
        resolver,
      });
      const config = Object.fromEntries(
        Object.keys({ ...expected.config, ...r.config.config }).map((k) => [
          k,
          (r.config.config as Record<string, unknown>)[k],
        ]),
      );
      // Null and absent fields are the same to docker (Cmd: null after ENTRYPOINT); the summaries
      // leave out ArgsEscaped.
      const clean = (o: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(o).filter(([key, v]) => v !== null && v !== undefined && key !== 'ArgsEscaped'),
        );
      assert.deepEqual(clean(config), clean(expected.config));
      const overridden = new Set(Object.keys(spec.buildArgs ?? {}));
      const hist = (h: HistoryEntry[]) =>
        h.map((e) => [normalize(e.created_by ?? '', overridden), Boolean(e.empty_layer)]);
      assert.deepEqual(hist(r.config.history ?? []), hist(expected.history));
    });
  }
});
