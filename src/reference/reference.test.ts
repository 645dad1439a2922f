import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import {
  familiarName,
  formatReference,
  normalizeReference,
  parseReference,
  withDigest,
} from './reference.ts';

const D = `sha256:${'a'.repeat(64)}` as const;

describe('parseReference', () => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['foo/bar', 'docker.io/foo/bar:latest', 'foo/bar:latest'],
    ['docker.io/foo/bar/baz:x', 'docker.io/foo/bar/baz:x', 'foo/bar/baz:x'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000/x:latest'],
    ['[fe80::1%eth0]/x:v', '[fe80::1%eth0]/x:v', '[fe80::1%eth0]/x:v'],
    [
      'Registry.Example.com/a_b/c__d/e-f.g',
      'Registry.Example.com/a_b/c__d/e-f.g:latest',
      'Registry.Example.com/a_b/c__d/e-f.g:latest',
    ],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`r.io:443/x:1@${D}`, `r.io:443/x:1@${D}`, `r.io:443/x:1@${D}`],
  ];
  for (const [input, full, familiar] of cases) {
    it(`${input} normalizes to ${full}`, () => {
      assert.equal(normalizeReference(input), full);
      assert.equal(familiarName(parseReference(input)), familiar);
    });
  }

  it('fills in the default tag only when there is no digest', () => {
    assert.deepEqual(parseReference('busybox'), {
      domain: 'docker.io',
      path: 'library/busybox',
      tag: 'latest',
    });
    assert.deepEqual(parseReference(`busybox@${D}`), {
      domain: 'docker.io',
      path: 'library/busybox',
      digest: D,
    });
  });

  it('keeps IPv6 hosts with ports apart from tags', () => {
    assert.deepEqual(parseReference('[::1]:5000/x:v1'), { domain: '[::1]:5000', path: 'x', tag: 'v1' });
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['foo/Bar', /lowercase/],
    ['busybox:', /bad tag/],
    ['busybox:-x', /bad tag/],
    [`busybox:${'a'.repeat(129)}`, /bad tag/],
    ['busybox@sha256:abc', /digest/],
    [`busybox@sha256:${'A'.repeat(64)}`, /digest/],
    ['foo//bar', /empty path component/],
    ['foo/bar-', /bad path component/],
    ['localhost:5000/', /missing repository path/],
    ['-bad.io/x', /bad registry host/],
    ['[::1/x', /bad registry host/],
    ['reg.io:port/x', /bad registry host/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
    [':tag', /missing repository name/],
    ['a'.repeat(64), /image ID/],
  ];
  for (const [input, why] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))} with a hint`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) =>
          hasCode(err, 'INVALID_REFERENCE') &&
          why.test((err as Error).message) &&
          Boolean((err as { hint?: string }).hint),
      );
    });
  }

  it('formats a reference pinned to a digest with its tag', () => {
    assert.equal(formatReference(withDigest(parseReference('a.io/x:1'), D)), `a.io/x:1@${D}`);
  });
});
