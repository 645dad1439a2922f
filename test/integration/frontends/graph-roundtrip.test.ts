/**
 * A graph as input gives the image a Dockerfile gives: for every case of the fidelity corpus,
 * `kiln debug graph` prints the graph (base images resolved in kiln's store), `kiln build
 * --graph -` solves it from stdin, and the image ID (the config digest: history, config and
 * every layer's diffID) equals that of `kiln build` of the Dockerfile, with SOURCE_DATE_EPOCH set.
 * KILN_ROUNDTRIP_CASES=01,20 limits the run to some cases.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, kilnImportBase } from '../../fidelity/builders.ts';
import { listCases, makeWorkspace, prepareContext, type Workspace } from '../../fidelity/corpus.ts';

const EPOCH = '1700000000';

function kiln(root: string, args: string[], input?: string): string {
  const r = spawnSync(KILN, ['--root', root, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH },
    maxBuffer: 256 << 20,
  });
  assert.equal(r.status, 0, `kiln ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

function caseFlags(spec: { buildArgs?: Record<string, string>; target?: string }): string[] {
  return [
    ...Object.entries(spec.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...(spec.target ? ['--target', spec.target] : []),
  ];
}

describe('kiln build --graph of `kiln debug graph` gives the image kiln build gives', () => {
  let ws: Workspace;
  let root: string;
  before(() => {
    ws = makeWorkspace(mkdtempSync(join(tmpdir(), 'kiln-graph-rt-')));
    root = join(ws.scratch, 'root');
    mkdirSync(root);
    kilnImportBase(root, ws.rootfsTar);
  });
  after(() => {
    if (ws) rmSync(ws.scratch, { recursive: true, force: true });
  });

  const only = process.env.KILN_ROUNDTRIP_CASES?.split(',');
  const cases = listCases().filter((c) => !only || only.some((o) => c.name.startsWith(o)));
  for (const c of cases) {
    it(`${c.name}: same image ID`, () => {
      const ctx = prepareContext(c);
      try {
        const flags = caseFlags(c.spec);
        const fromDockerfile = kiln(root, ['build', '-q', ...flags, ctx]).trim();
        const graph = kiln(root, ['debug', 'graph', ...flags, ctx]);
        const parsed = JSON.parse(graph) as {
          version: number;
          results: Record<string, { root: string | null }>;
        };
        assert.equal(parsed.version, 1);
        const fromGraph = kiln(root, ['build', '-q', '--graph', '-', ctx], graph).trim();
        assert.match(fromDockerfile, /^sha256:[0-9a-f]{64}$/);
        assert.equal(fromGraph, fromDockerfile);
      } finally {
        rmSync(ctx, { recursive: true, force: true });
      }
    });
  }
});
