import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import { endpointsFor, isLoopbackHost, loadRegistryConfig, parseRegistryConfig } from './hosts.ts';
import { defaultIdleTimeoutMs } from './transport.ts';

describe('registry config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-hosts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), 'CA');
  writeFileSync(join(dir, 'k.pem'), 'KEY');
  writeFileSync(join(dir, 'c.pem'), 'CERT');

  it('parses buildkitd-style sections with mirrors, http, insecure, ca and key pairs', () => {
    const cfg = parseRegistryConfig(`
[registry."docker.io"]
mirrors = ["mirror.local:5000", "m2.example.com/hub"]

[registry."reg.example.com:5000"]
http = true

[registry."secure.example.com"]
insecure = true
ca = ["${dir}/ca.pem"]
[[registry."secure.example.com".keypair]]
key = "${dir}/k.pem"
cert = "${dir}/c.pem"
`);
    assert.deepEqual(cfg.hosts['docker.io'].mirrors, ['mirror.local:5000', 'm2.example.com/hub']);
    const hub = endpointsFor('docker.io', cfg, true);
    assert.deepEqual(
      hub.map((e) => [e.apiHost, e.pathPrefix, e.scheme, e.mirror]),
      [
        ['mirror.local:5000', '', 'https', true],
        ['m2.example.com', '/hub', 'https', true],
        ['registry-1.docker.io', '', 'https', false],
      ],
    );
    assert.equal(endpointsFor('docker.io', cfg, false).length, 1, 'pushes never go to mirrors');
    assert.equal(endpointsFor('reg.example.com:5000', cfg, false)[0].scheme, 'http');
    const sec = endpointsFor('secure.example.com', cfg, false)[0];
    assert.equal(sec.insecure, true);
    assert.equal(sec.ca[0].toString(), 'CA');
    assert.equal(sec.keypairs[0].cert.toString(), 'CERT');
  });

  it('speaks plain HTTP to loopback hosts unless TLS settings are given', () => {
    for (const h of ['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) {
      assert.ok(isLoopbackHost(h), h);
      assert.equal(endpointsFor(h, { hosts: {} }, true)[0].scheme, 'http', h);
    }
    assert.ok(!isLoopbackHost('10.0.0.1:5000'));
    assert.equal(endpointsFor('10.0.0.1:5000', { hosts: {} }, true)[0].scheme, 'https');
    const cfg = parseRegistryConfig(`[registry."127.0.0.1:5000"]\ninsecure = true\n`);
    assert.equal(endpointsFor('127.0.0.1:5000', cfg, true)[0].scheme, 'https');
  });

  it('rejects unknown settings and wrong types with the file name and a hint', () => {
    for (const bad of [
      '[registry."a"]\nmirror = ["x"]',
      '[registry."a"]\nhttp = "yes"',
      '[registry."a"]\nca = "x"',
      'registry = 1',
      '[registry."a"\n',
    ]) {
      assert.throws(
        () => parseRegistryConfig(bad, '/etc/kiln/registries.toml'),
        (err: Error) =>
          hasCode(err, 'INVALID_REGISTRY_CONFIG') && err.message.startsWith('/etc/kiln/registries.toml'),
      );
    }
  });

  it('treats a missing default file as empty and a missing CA file as an error', () => {
    assert.deepEqual(loadRegistryConfig(join(dir, 'nope.toml')), { hosts: {} });
    const cfg = parseRegistryConfig(`[registry."x.io"]\nca = ["${dir}/missing.pem"]\n`);
    assert.throws(
      () => endpointsFor('x.io', cfg, false),
      (err: Error) => hasCode(err, 'INVALID_REGISTRY_CONFIG') && /missing\.pem/.test(err.message),
    );
  });

  it('idle-timeout is seconds per registry, carried to its endpoints; bad values are refused', () => {
    const cfg = parseRegistryConfig('[registry."slow.io"]\nidle-timeout = 2.5\nmirrors = ["m.io"]\n');
    const [mirror, origin] = endpointsFor('slow.io', cfg, true);
    assert.equal(origin.idleTimeoutMs, 2500);
    assert.equal(mirror.idleTimeoutMs, undefined);
    for (const bad of ['0', '-1', '"60"']) {
      assert.throws(
        () => parseRegistryConfig(`[registry."a"]\nidle-timeout = ${bad}\n`),
        (err: Error) => hasCode(err, 'INVALID_REGISTRY_CONFIG') && /idle-timeout/.test(err.message),
      );
    }
  });

  it('KILN_REGISTRY_IDLE_TIMEOUT sets the default in seconds; 60 s without it', () => {
    assert.equal(defaultIdleTimeoutMs({}), 60_000);
    assert.equal(defaultIdleTimeoutMs({ KILN_REGISTRY_IDLE_TIMEOUT: '3' }), 3000);
    assert.throws(() => defaultIdleTimeoutMs({ KILN_REGISTRY_IDLE_TIMEOUT: 'soon' }), {
      code: 'INVALID_REGISTRY_CONFIG',
    });
  });
});
