import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import { parseReference } from '../reference/reference.ts';
import { RegistryClient } from './client.ts';
import { resolveImage } from './source.ts';

describe('registry client against a scripted server', () => {
  let server: http.Server;
  let host = '';
  const seen: http.IncomingHttpHeaders[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      if (req.url?.includes('/old/manifests/')) {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
        res.end(JSON.stringify({ schemaVersion: 1, name: 'old', tag: 'latest', fsLayers: [] }));
      } else if (req.url?.includes('/tampered/manifests/sha256:')) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        res.end('{"schemaVersion":2}');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('rejects a schema 1 image with a clear message, asking for modern types first', async () => {
    const client = new RegistryClient({ credentials: async () => undefined });
    await assert.rejects(
      resolveImage(client, parseReference(`${host}/old:latest`)),
      (err: Error) => hasCode(err, 'UNSUPPORTED_SCHEMA1') && /schema 1/.test(err.message),
    );
    const accept = String(seen.at(-1)?.accept);
    assert.ok(accept.indexOf('application/vnd.oci.image.index.v1+json') < accept.indexOf('prettyjws'));
  });

  it('rejects manifest bytes that do not match the requested digest', async () => {
    const client = new RegistryClient({ credentials: async () => undefined });
    await assert.rejects(client.getManifest(host, 'tampered', `sha256:${'0'.repeat(64)}`), (err: Error) =>
      hasCode(err, 'DIGEST_MISMATCH'),
    );
  });

  it('reports unreachable registries after its retry budget', async () => {
    const client = new RegistryClient({
      credentials: async () => undefined,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    await assert.rejects(
      client.getManifest('127.0.0.1:1', 'x', 'latest'),
      (err: Error) =>
        hasCode(err, 'REGISTRY_UNREACHABLE') &&
        /registry 127\.0\.0\.1:1, repository x: gave up after 2 attempts/.test(err.message),
    );
  });
});
