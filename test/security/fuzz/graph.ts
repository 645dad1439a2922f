/**
 * Fuzz target: graph definitions as `kiln build --graph` reads them. Seeds are the graphs of the
 * fidelity corpus's Dockerfiles; cases are byte mutations of their JSON, structural edits (a
 * member replaced by a hostile value, a digest swapped to make a cycle or a dangling reference,
 * paths with `..`), resealed with recomputed digests half of the time so the checks behind the
 * digest check are reached too, and deep or wide JSON. parseGraphJson must return or throw a
 * KilnError.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertDockerfile } from '../../../src/frontend/dockerfile/convert/index.ts';
import { serializeDefinition, vertexDigest } from '../../../src/graph/index.ts';
import { parseGraphJson } from '../../../src/graph/json.ts';
import type { Op } from '../../../src/graph/ops.ts';
import type { Platform } from '../../../src/oci/platform.ts';
import { mutate, type Rng } from './random.ts';
import type { FuzzTarget } from './target.ts';

const CASES = join(import.meta.dirname, '..', '..', 'fidelity', 'cases');
const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

type Doc = ReturnType<typeof serializeDefinition>;

const INTERESTING = [
  '..',
  '/../..',
  '\u0000',
  '{',
  '[',
  '"',
  'sha256:',
  '1e309',
  '-1',
  '9007199254740993',
  'null',
].map((s) => Buffer.from(s));

function hostile(rng: Rng, depth = 0): unknown {
  switch (rng.int(12)) {
    case 0:
      return null;
    case 1:
      return rng.pick([0, -1, 1.5, 2 ** 53, -(2 ** 31), 0o7777 + 1, 4096]);
    case 2:
      return rng.pick([
        '',
        '..',
        '../../etc/passwd',
        '/a/../../b',
        'x'.repeat(rng.size(5000)),
        '\u0000',
        'sha256:zz',
      ]);
    case 3:
      return rng.chance(0.5);
    case 4:
      return depth < 4 ? Array.from({ length: rng.size(6) }, () => hostile(rng, depth + 1)) : [];
    case 5:
      return depth < 4
        ? { [rng.pick(['type', 'kind', 'action', 'x', '__proto__', 'constructor'])]: hostile(rng, depth + 1) }
        : {};
    case 6:
      return `sha256:${'0'.repeat(64)}`;
    default:
      return rng.string(rng.size(20), 'abc/._-:@');
  }
}

/** Recompute every digest (and the references to it), as a careful attacker would. */
function reseal(doc: Doc): void {
  if (!Array.isArray(doc.vertices)) return;
  const renamed = new Map<string, string>();
  for (const v of doc.vertices) {
    if (!v || typeof v !== 'object' || !Array.isArray(v.inputs)) continue;
    v.inputs = v.inputs.map((d) => (renamed.get(d) ?? d) as typeof d);
    try {
      const d = vertexDigest(v.op as Op, v.inputs);
      renamed.set(v.digest, d);
      v.digest = d;
    } catch {
      // An op canonical JSON cannot encode stays as it is: the loader must refuse it.
    }
  }
  for (const r of Object.values(doc.results ?? {}))
    if (r?.root) r.root = (renamed.get(r.root) ?? r.root) as typeof r.root;
}

/** Replace a random member somewhere in `value` (objects and arrays only). */
function edit(rng: Rng, value: unknown, depth = 0): void {
  if (!value || typeof value !== 'object') return;
  const keys = Object.keys(value);
  if (keys.length === 0) return;
  const k = rng.pick(keys);
  const child = (value as Record<string, unknown>)[k];
  if (depth < 8 && child && typeof child === 'object' && rng.chance(0.75)) edit(rng, child, depth + 1);
  else if (rng.chance(0.15)) delete (value as Record<string, unknown>)[k];
  else (value as Record<string, unknown>)[k] = hostile(rng);
}

let seeds: string[] | undefined;

async function corpus(): Promise<string[]> {
  if (seeds) return seeds;
  const out: string[] = [];
  for (const c of readdirSync(CASES)) {
    const text = readFileSync(join(CASES, c, 'Dockerfile'), 'utf8');
    try {
      const r = await convertDockerfile(text, {
        buildArgs: {},
        platform: AMD64,
        buildPlatform: AMD64,
        resolver: {
          async resolveImageConfig(ref, platform) {
            const config = {
              architecture: platform.architecture,
              os: platform.os,
              rootfs: { type: 'layers' as const, diff_ids: [] },
              config: { Env: ['PATH=/bin'] },
            };
            return { ref: `${ref}@sha256:${'b'.repeat(64)}`, config };
          },
        },
      });
      out.push(JSON.stringify(serializeDefinition(r.definition)));
    } catch {
      // A case that needs build args the seed does not give: not a seed.
    }
  }
  seeds = out;
  return out;
}

export const target: FuzzTarget = {
  name: 'graph',
  caseTimeoutMs: 10_000,
  async run(rng) {
    const base = rng.pick(await corpus());
    let text: string;
    switch (rng.int(6)) {
      case 0:
        text = mutate(rng, Buffer.from(base), INTERESTING).toString(rng.chance(0.9) ? 'utf8' : 'latin1');
        break;
      case 1: {
        // Deep or wide JSON where a graph is expected.
        const n = rng.size(200_000);
        text = rng.chance(0.5)
          ? `${'['.repeat(n)}${']'.repeat(n)}`
          : JSON.stringify({
              version: 1,
              vertices: Array.from({ length: rng.size(5000) }, () => ({})),
              results: {},
            });
        break;
      }
      case 2: {
        // A cycle or a dangling reference, with digests resealed or not.
        const doc = JSON.parse(base) as Doc;
        const vs = doc.vertices;
        if (vs.length >= 2) {
          const a = rng.pick(vs);
          const b = rng.pick(vs);
          a.inputs = [
            ...a.inputs,
            rng.chance(0.8) ? b.digest : (`sha256:${'1'.repeat(64)}` as typeof b.digest),
          ];
        }
        if (rng.chance(0.5)) reseal(doc);
        text = JSON.stringify(doc);
        break;
      }
      default: {
        const doc = JSON.parse(base) as Doc;
        for (let n = 1 + rng.int(3); n > 0; n--) {
          // An earlier edit may have replaced the list itself.
          const vs = Array.isArray(doc.vertices) && doc.vertices.length ? doc.vertices : undefined;
          edit(rng, vs && rng.chance(0.8) ? rng.pick(vs) : doc);
        }
        if (rng.chance(0.5)) reseal(doc);
        text = JSON.stringify(doc);
      }
    }
    parseGraphJson(text, 'fuzz.json');
  },
};
