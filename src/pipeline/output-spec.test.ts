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

  it('refuses a key no exporter of the type takes, naming the key, the type and the keys it takes', () => {
    assert.throws(
      () => parseOutput('type=image,name=a,bogus-key=1'),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'INVALID_OUTPUT');
        assert.match(err.message, /unknown output option "bogus-key" for type=image/);
        assert.match(err.hint ?? '', /type=image accepts: type, name, push, compression/);
        return true;
      },
    );
    // Keys of one exporter are unknown to another: dest means nothing to type=image.
    assert.throws(() => parseOutput('type=image,dest=x'), {
      code: 'INVALID_OUTPUT',
      message: /"dest" for type=image/,
    });
    assert.throws(() => parseOutput('type=local,dest=x,name=a'), {
      code: 'INVALID_OUTPUT',
      message: /"name"/,
    });
    assert.throws(() => parseOutput('type=tar,dest=x,annotation.a=b'), { code: 'INVALID_OUTPUT' });
  });

  it('refuses keys BuildKit honours and kiln cannot, unless they ask for what kiln does anyway', () => {
    for (const o of [
      'type=image,push-by-digest=true',
      'type=image,registry.insecure=true',
      'type=image,store=false',
      'type=image,compression-level=9',
      'type=oci,dest=o.tar,source-date-epoch=0',
      'type=docker,dest=o.tar,tar=false',
      'type=local,dest=o,platform-split=false',
    ]) {
      assert.throws(() => parseOutput(o), { code: 'OUTPUT_UNSUPPORTED' }, o);
    }
    for (const o of [
      'type=image,store=true,unpack=false,push-by-digest=false',
      'type=image,force-compression=true',
    ]) {
      assert.equal(parseOutput(o).type, 'image', o);
    }
  });

  it('reads annotation keys as BuildKit does: no type is the manifest, [platform] narrows it', () => {
    const s = parseOutput(
      'type=image,annotation.a=1,annotation-index.b=2,annotation-manifest[linux/arm64].c=3,annotation-manifest-descriptor.d=4',
    );
    assert.deepEqual(
      s.annotations.map((a) => [a.type, a.platform?.architecture, a.key, a.value]),
      [
        ['manifest', undefined, 'a', '1'],
        ['index', undefined, 'b', '2'],
        ['manifest', 'arm64', 'c', '3'],
        ['manifest-descriptor', undefined, 'd', '4'],
      ],
    );
    assert.throws(() => parseOutput('type=image,annotation-bogus.a=1'), {
      message: /unknown annotation type "bogus"/,
    });
  });

  it('--annotation adds buildx-syntax annotations to every output that writes an image', () => {
    const specs = resolveOutputs(['type=oci,dest=o.tar', 'type=local,dest=d'], ['x'], false, true, [
      'k=v',
      'index,manifest[linux/amd64]:org.opencontainers.image.title=T',
    ]);
    assert.deepEqual(
      specs.map((s) =>
        s.annotations.map(
          (a) => `${a.type}${a.platform ? `[${a.platform.architecture}]` : ''}:${a.key}=${a.value}`,
        ),
      ),
      [
        [
          'manifest:k=v',
          'index:org.opencontainers.image.title=T',
          'manifest[amd64]:org.opencontainers.image.title=T',
        ],
        [],
        [
          'manifest:k=v',
          'index:org.opencontainers.image.title=T',
          'manifest[amd64]:org.opencontainers.image.title=T',
        ],
      ],
    );
    assert.throws(() => resolveOutputs([], [], false, false, ['nokey']), { code: 'INVALID_FLAG' });
    assert.throws(() => resolveOutputs([], [], false, false, ['layer:k=v']), {
      message: /unknown annotation type "layer"/,
    });
  });
});
