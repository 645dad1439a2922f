import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyNamedContext, layoutImageRef } from './named-contexts.ts';

const D = `sha256:${'a'.repeat(64)}` as const;

describe('--build-context values', () => {
  it('tells images, layouts, git and http URLs from local directories as buildx does', () => {
    assert.deepEqual(classifyNamedContext('a', 'docker-image://alpine:3'), {
      kind: 'image',
      ref: 'alpine:3',
    });
    assert.deepEqual(classifyNamedContext('a', 'oci-layout:///l'), {
      kind: 'oci-layout',
      dir: '/l',
      tag: 'latest',
      digest: undefined,
    });
    assert.deepEqual(classifyNamedContext('a', 'oci-layout:///l:v1'), {
      kind: 'oci-layout',
      dir: '/l',
      tag: 'v1',
      digest: undefined,
    });
    assert.deepEqual(classifyNamedContext('a', `oci-layout:///l@${D}`), {
      kind: 'oci-layout',
      dir: '/l',
      tag: 'latest',
      digest: D,
    });
    for (const g of ['git@github.com:o/r.git', 'https://h/o/r.git#main:sub', 'git://h/r.git'])
      assert.equal(classifyNamedContext('a', g).kind, 'git');
    assert.equal(classifyNamedContext('a', 'https://h/file.tar').kind, 'http');
    assert.deepEqual(classifyNamedContext('a', '/srv/dir'), { kind: 'local', dir: '/srv/dir' });
  });

  it('refuses an empty image, a bad layout digest and a layout name that is no image name', () => {
    assert.throws(() => classifyNamedContext('a', 'docker-image://'), { code: 'INVALID_BUILD_CONTEXT' });
    assert.throws(() => classifyNamedContext('a', 'oci-layout:///l@sha256:zz'), {
      code: 'INVALID_BUILD_CONTEXT',
    });
    assert.throws(() => layoutImageRef('Not Valid', D), { code: 'INVALID_BUILD_CONTEXT' });
    assert.equal(layoutImageRef('base', D), `docker.io/library/base@${D}`);
  });
});
