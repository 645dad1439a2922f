/** The parser's bounds: Dockerfile size, instruction count and stage count, each a clear error. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DOCKERFILE_BYTES, MAX_INSTRUCTIONS, MAX_STAGES, parseDockerfile } from './index.ts';

describe('Dockerfile bounds', () => {
  it(`a Dockerfile over ${MAX_DOCKERFILE_BYTES} bytes is DOCKERFILE_TOO_LARGE, as text or bytes`, () => {
    const big = `FROM scratch\n${'# padding padding padding padding padding padding padding\n'.repeat(190_000)}`;
    assert.ok(Buffer.byteLength(big) > MAX_DOCKERFILE_BYTES);
    for (const input of [big, Buffer.from(big)]) {
      assert.throws(() => parseDockerfile(input, { file: 'big/Dockerfile' }), {
        code: 'DOCKERFILE_TOO_LARGE',
        message: `big/Dockerfile is ${Buffer.byteLength(big)} bytes; kiln reads Dockerfiles of at most ${MAX_DOCKERFILE_BYTES} bytes`,
      });
    }
  });

  it(`${MAX_INSTRUCTIONS} instructions parse; one more fails at its line`, () => {
    const ok = `FROM scratch\n${'ENV A=1\n'.repeat(MAX_INSTRUCTIONS - 1)}`;
    assert.equal(parseDockerfile(ok).ast.children.length, MAX_INSTRUCTIONS);
    assert.throws(
      () => parseDockerfile(`${ok}# a comment\nENV B=2\n`),
      (err: Error & { code?: string; location?: { startLine: number } }) => {
        assert.equal(err.code, 'DOCKERFILE_TOO_LARGE');
        assert.equal(err.location?.startLine, MAX_INSTRUCTIONS + 2);
        assert.match(err.message, new RegExp(`more than ${MAX_INSTRUCTIONS} instructions`));
        return true;
      },
    );
  });

  it(`${MAX_STAGES} stages parse; one more fails at its FROM`, () => {
    const ok = 'FROM scratch\n'.repeat(MAX_STAGES);
    assert.equal(parseDockerfile(ok).ast.children.length, MAX_STAGES);
    assert.throws(() => parseDockerfile(`${ok}from scratch\n`), {
      code: 'DOCKERFILE_TOO_LARGE',
      message: `dockerfile has more than ${MAX_STAGES} stages`,
    });
  });
});
