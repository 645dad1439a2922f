/**
 * Registry answers the fuzzer found to escape as TypeErrors, SyntaxErrors or hangs: each is now
 * a KilnError (or a clean finish), checked against a scripted server on a real socket.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../errors/errors.ts';
import { RegistryClient } from './client.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe('hostile registry answers', () => {
  let server: http.Server;
  let host = '';
  let handler: Handler = (_req, res) => res.writeHead(404).end();
  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = () =>
    new RegistryClient({ credentials: async () => undefined, retry: { attempts: 1 }, idleTimeoutMs: 2000 });
  const kiln = (code: string) => (err: unknown) => {
    assert.ok(err instanceof KilnError, `not a KilnError: ${err}`);
    assert.equal(err.code, code);
    return true;
  };

  for (const location of ['javascript:1', 'http://[::1', 'ftp://example.com/x']) {
    it(`a redirect to ${location} is REGISTRY_ERROR, not a TypeError`, async () => {
      handler = (_req, res) => res.writeHead(302, { location }).end();
      await assert.rejects(client().getManifest(host, 'a/b', 'latest'), kiln('REGISTRY_ERROR'));
    });
  }

  it('a token realm that is not an http(s) URL is REGISTRY_ERROR', async () => {
    handler = (_req, res) =>
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="ftp://x/",service="s"' }).end();
    await assert.rejects(client().getManifest(host, 'a/b', 'latest'), kiln('REGISTRY_ERROR'));
  });

  it('a manifest without a content type that is not JSON is REGISTRY_INVALID_JSON', async () => {
    handler = (_req, res) => res.writeHead(200).end('{"schemaVersion":');
    await assert.rejects(client().getManifest(host, 'a/b', 'latest'), kiln('REGISTRY_INVALID_JSON'));
  });

  it('an upload Location that does not parse is REGISTRY_ERROR', async () => {
    handler = (_req, res) => res.writeHead(202, { location: 'http://[::1' }).end();
    const data = Buffer.from('x');
    const { Readable } = await import('node:stream');
    await assert.rejects(
      client().uploadBlob(
        host,
        'a/b',
        { mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 1 },
        Readable.from([data]),
      ),
      kiln('REGISTRY_ERROR'),
    );
  });

  it('a response body that never ends does not keep a manifest push waiting', {
    timeout: 20_000,
  }, async () => {
    handler = (req, res) => {
      res.writeHead(201);
      const chunk = Buffer.alloc(64 << 10);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump);
      };
      if (req.method !== 'HEAD') pump();
    };
    await client().putManifest(host, 'a/b', 'latest', Buffer.from('{}'), 'application/json');
  });
});
