import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { definition, file, serializeDefinition } from '../../graph/index.ts';
import type { ImageConfig } from '../../oci/config.ts';
import { convertGraph } from './graph.ts';

const cfg = (architecture: string): ImageConfig => ({
  architecture,
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [] },
});
const root = (name: string) => file(null, [{ action: 'mkfile', path: `/${name}`, data: name }]);

function graphText(results: Record<string, { arch: string; name: string }>): string {
  const r = Object.fromEntries(
    Object.entries(results).map(([k, v]) => [k, { root: root(v.name), config: cfg(v.arch) }]),
  );
  return JSON.stringify(serializeDefinition(definition(r)));
}

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };

describe('the graph frontend', () => {
  it('builds the result named for the platform, else default, else --target', () => {
    const text = graphText({
      default: { arch: 'amd64', name: 'd' },
      'linux/arm64': { arch: 'arm64', name: 'a' },
      extra: { arch: 'amd64', name: 'x' },
    });
    assert.equal(convertGraph(text, { file: 'g', platform: AMD64 }).target, 'default');
    assert.equal(convertGraph(text, { file: 'g', platform: ARM64 }).target, 'linux/arm64');
    const x = convertGraph(text, { file: 'g', platform: AMD64, target: 'extra' });
    assert.equal(x.target, 'extra');
    assert.equal(x.root?.digest, root('x').digest);
  });

  it('refuses a result made for another platform, and a target it lacks', () => {
    const text = graphText({ default: { arch: 'amd64', name: 'd' } });
    assert.throws(() => convertGraph(text, { file: 'g', platform: ARM64 }), {
      code: 'GRAPH_RESULT_NOT_FOUND',
      message: /was made for linux\/amd64, and this build is for linux\/arm64/,
      hint: /--platform linux\/amd64/,
    });
    assert.throws(() => convertGraph(text, { file: 'g', platform: AMD64, target: 'nope' }), {
      code: 'GRAPH_RESULT_NOT_FOUND',
      message: /has no result "nope" \(it has default\)/,
    });
  });
});
