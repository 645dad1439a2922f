import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOutput, resolveOutputs } from './output-spec.ts';

describe('--output parsing', () => {
  it('reads buildx key=value lists', () => {
    const s = parseOutput('type=oci,dest=out.tar,compression=zstd,oci-mediatypes=true');
    assert.equal(s.type, 'oci');
    assert.equal(s.dest, 'out.tar');
    assert.equal(s.compression, 'zstd');
    assert.equal(s.ociMediaTypes, true);
  });

  it('treats a bare path as a local directory and - as a tar on stdout', () => {
    assert.deepEqual([parseOutput('out').type, parseOutput('out').dest], ['local', 'out']);
    assert.equal(parseOutput('-').type, 'tar');
  });

  it('type=registry pushes, and names come from -t when not given', () => {
    const s = parseOutput('type=registry', ['localhost:5000/x:1']);
    assert.equal(s.push, true);
    assert.deepEqual(s.names, ['localhost:5000/x:1']);
  });

  it('image with push=true and quoted name lists', () => {
    const s = parseOutput('type=image,"name=a:1,b:2",push=true');
    assert.deepEqual(s.names, ['a:1', 'b:2']);
    assert.equal(s.push, true);
  });

  it('rejects unknown types and archive outputs without dest, with hints', () => {
    assert.throws(() => parseOutput('type=zip'), {
      code: 'INVALID_OUTPUT',
      message: /unknown output type "zip"/,
    });
    assert.throws(() => parseOutput('type=oci'), { code: 'INVALID_OUTPUT', message: /needs dest/ });
    assert.throws(() => parseOutput('type=registry'), {
      code: 'INVALID_OUTPUT',
      message: /needs an image name/,
    });
  });

  it('defaults to the local image store; --push without -t is an error', () => {
    assert.deepEqual(
      resolveOutputs([], ['x'], false, false).map((s) => [s.type, s.names]),
      [['image', ['x']]],
    );
    assert.throws(() => resolveOutputs([], [], true, false), { code: 'INVALID_OUTPUT' });
  });
});
