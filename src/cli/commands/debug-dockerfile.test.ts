/** `kiln debug dockerfile`: dump and JSON output, and the shared `debug` parent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { sharedTestdata } from '../../testing/shared-testdata.ts';
import { debugCommand, debugDockerfile, register } from './debug-dockerfile.ts';

const FILE = sharedTestdata('buildkit-parser-testfiles', 'testfiles', 'flags', 'Dockerfile');

describe('kiln debug dockerfile', () => {
  it('prints the BuildKit AST dump', async () => {
    const out = await debugDockerfile(FILE);
    assert.ok(out.startsWith('(from "scratch")\n(copy "foo" "/tmp/")'));
  });
  it('prints the parse result as JSON', async () => {
    const parsed = JSON.parse(await debugDockerfile(FILE, { json: true }));
    assert.equal(parsed.ast.children[0].value, 'FROM');
    assert.equal(parsed.escapeToken, '\\');
  });
  it('fails with DOCKERFILE_NOT_FOUND for a missing file', async () => {
    await assert.rejects(debugDockerfile('/nonexistent/Dockerfile'), { code: 'DOCKERFILE_NOT_FOUND' });
  });
  it('shares one debug parent command', () => {
    const program = new Command('kiln');
    register(program);
    const debug = debugCommand(program);
    assert.equal(program.commands.filter((c) => c.name() === 'debug').length, 1);
    assert.ok(debug.commands.some((c) => c.name() === 'dockerfile'));
  });
});
