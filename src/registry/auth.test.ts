import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges, repositoryScope } from './auth.ts';

describe('parseChallenges', () => {
  it('parses a Docker Hub bearer challenge', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/busybox:pull',
          },
        },
      ],
    );
  });

  it('parses Basic, unquoted values, escapes and several challenges', () => {
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ]);
    assert.deepEqual(parseChallenges(['Basic realm=x', 'Bearer realm="a\\"b", service=s']), [
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'a"b', service: 's' } },
    ]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('builds repository scopes', () => {
    assert.equal(repositoryScope('library/busybox', false), 'repository:library/busybox:pull');
    assert.equal(repositoryScope('a/b', true), 'repository:a/b:pull,push');
  });
});
