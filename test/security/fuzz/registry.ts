/**
 * Fuzz target: registry responses. A fake registry speaks HTTP on a real socket and answers
 * every request of a pull, a push or a login from a per-case scenario: valid or mutated manifests,
 * indexes and configs, lying headers (digests, media types, lengths, ranges), auth challenges and
 * token responses, redirect loops, random statuses, endless or stalled bodies. The real client
 * (RegistryClient, pullImage, pushImage into and from a real content store) may fail only with
 * KilnErrors, and must leave no temp file behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../../../src/digest/digest.ts';
import type { Descriptor } from '../../../src/oci/descriptor.ts';
import { MediaType } from '../../../src/oci/mediatypes.ts';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { mutate, Rng } from './random.ts';
import type { FuzzTarget } from './target.ts';

interface Blob {
  mediaType: string;
  bytes: Buffer;
}

interface Ctx {
  dir: string;
  store: Store;
  server: http.Server;
  host: string;
  /** The valid image the scenarios start from, by digest; `manifest` and `index` name the roots. */
  blobs: Map<string, Blob>;
  manifest: Descriptor;
  index: Descriptor;
  /** This case's answers. */
  scenario?: Scenario;
}

interface Scenario {
  rng: Rng;
  /** How likely a request gets a hostile answer (per case, so some cases go deep). */
  hostility: number;
  auth: 'none' | 'bearer' | 'basic' | 'garbage';
}

const MUTATIONS = [
  '{',
  '}',
  '"mediaType":',
  '"digest":"sha256:',
  '"size":-1',
  '"size":1e400',
  '[',
  ']',
  'null',
  '"layers":[',
  '"manifests":[{',
  '\u0000',
].map((s) => Buffer.from(s));

function descriptor(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

function makeImage(blobs: Map<string, Blob>): { manifest: Descriptor; index: Descriptor } {
  const add = (mediaType: string, bytes: Buffer) => {
    blobs.set(sha256(bytes), { mediaType, bytes });
    return descriptor(mediaType, bytes);
  };
  const tar = Buffer.alloc(1024);
  const layer = add(MediaType.OciLayerGzip, gzipSync(tar));
  const config = add(
    MediaType.OciConfig,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
        config: {},
      }),
    ),
  );
  const manifest = add(
    MediaType.OciManifest,
    Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }),
    ),
  );
  const index = add(
    MediaType.OciIndex,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ ...manifest, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    ),
  );
  return { manifest, index };
}

/** Answer one request: valid most of the time, hostile as often as the scenario says. */
function answer(ctx: Ctx, req: http.IncomingMessage, res: http.ServerResponse): void {
  const sc = ctx.scenario;
  const url = new URL(req.url ?? '/', `http://${ctx.host}`);
  req.resume();
  if (!sc) {
    res.writeHead(503).end();
    return;
  }
  const rng = sc.rng;
  const hostile = rng.chance(sc.hostility);
  const send = (status: number, headers: Record<string, string>, body?: Buffer) => {
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (url.pathname === '/token') {
    const body = hostile
      ? rng.pick([
          mutate(rng, Buffer.from('{"token":"t","expires_in":60}'), MUTATIONS),
          Buffer.from('{"token":'),
          Buffer.alloc(rng.size(2 << 20), 0x41),
          Buffer.from('{"access_token":1}'),
        ])
      : Buffer.from(JSON.stringify({ token: 'tok', expires_in: rng.pick([60, 0, -5, 1e12]) }));
    send(
      hostile && rng.chance(0.3) ? rng.pick([400, 401, 403, 500]) : 200,
      { 'content-type': 'application/json' },
      body,
    );
    return;
  }
  // Auth: a challenge unless the request carries something.
  if (sc.auth !== 'none' && !req.headers.authorization && url.pathname.startsWith('/v2/')) {
    const challenge =
      sc.auth === 'bearer'
        ? `Bearer realm="http://${ctx.host}/token",service="fuzz",scope="${rng.string(rng.size(20), 'ab:/,*')}"`
        : sc.auth === 'basic'
          ? 'Basic realm="fuzz"'
          : rng.pick([
              'Bearer',
              'Bearer realm=',
              'Bearer realm="ftp://x/"',
              `Bearer realm="http://${ctx.host}/token"${','.repeat(rng.size(100))}`,
              '"""',
              'Negotiate',
              rng.string(rng.size(200), 'a="=, '),
            ]);
    send(
      401,
      { 'www-authenticate': challenge, 'content-type': 'application/json' },
      Buffer.from('{"errors":[{"code":"UNAUTHORIZED"}]}'),
    );
    return;
  }
  if (hostile) {
    switch (rng.int(9)) {
      case 0:
        send(rng.pick([301, 302, 307, 308]), {
          location: rng.pick([
            req.url ?? '/',
            `http://${ctx.host}${req.url}`,
            '/v2/',
            'http://[::1',
            'javascript:1',
            `//${ctx.host}/loop`,
            '',
          ]),
        });
        return;
      case 1:
        send(
          rng.pick([400, 404, 408, 418, 429, 500, 502, 503, 201, 202, 204, 206]),
          { 'retry-after': rng.pick(['0', '1', '999999', 'soon', '']) },
          rng.chance(0.5)
            ? Buffer.from('{"errors":[{"code":"X","message":"y"}]}')
            : mutate(rng, Buffer.from('{"errors":[]}'), MUTATIONS),
        );
        return;
      case 2: {
        // A body that never ends (until the client gives up).
        res.writeHead(200, { 'content-type': rng.pick([MediaType.OciManifest, 'application/octet-stream']) });
        const chunk = Buffer.alloc(64 << 10, 0x5b);
        if (req.method === 'HEAD') {
          res.end(); // a HEAD response has no body to send (and writes to it never block)
          return;
        }
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {}
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        pump();
        return;
      }
      case 3:
        // Headers, then silence (the idle timeout must end it).
        res.writeHead(200, { 'content-length': '100' });
        res.write('{');
        return;
      case 4:
        // A length that lies.
        res.writeHead(200, { 'content-length': String(rng.pick([10, 1 << 30, 99999999999])) });
        res.end(req.method === 'HEAD' ? undefined : '{"schemaVersion":2}');
        return;
      case 5:
        req.socket.destroy();
        return;
      default:
        break; // a mutated version of the real answer, below
    }
  }
  const m = /^\/v2\/(.+?)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
  if (url.pathname === '/v2/' || url.pathname === '/v2') {
    send(200, {});
    return;
  }
  if (m) {
    const [, , kind, ref] = m;
    let blob = ref && ctx.blobs.get(ref);
    if (!blob && kind === 'manifests')
      blob = ctx.blobs.get(rng.chance(0.5) ? ctx.index.digest : ctx.manifest.digest);
    if (!blob) {
      send(404, { 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"BLOB_UNKNOWN"}]}'));
      return;
    }
    const bytes = hostile
      ? rng.pick([
          mutate(rng, blob.bytes, MUTATIONS),
          blob.bytes.subarray(0, rng.int(blob.bytes.length)),
          Buffer.concat([blob.bytes, rng.bytes(rng.size(100))]),
        ])
      : blob.bytes;
    const headers: Record<string, string> = {
      'content-type':
        hostile && rng.chance(0.3)
          ? rng.pick([
              '',
              'text/html',
              MediaType.DockerManifestList,
              MediaType.OciIndex,
              rng.string(20, 'a/+;='),
            ])
          : blob.mediaType,
      'docker-content-digest':
        hostile && rng.chance(0.3)
          ? rng.pick(['', 'sha256:x', sha256('other'), `sha512:${'a'.repeat(128)}`])
          : sha256(bytes),
    };
    if (req.headers.range && rng.chance(0.5)) {
      send(
        206,
        { ...headers, 'content-range': rng.pick(['bytes 0-1/2', 'garbage', `bytes 5-${bytes.length}/*`]) },
        bytes.subarray(rng.int(bytes.length + 1)),
      );
      return;
    }
    send(200, headers, bytes);
    return;
  }
  if (url.pathname.includes('/blobs/uploads')) {
    // Uploads: a Location (sometimes nonsense), a Range that may lie, then 201 on PUT.
    const location =
      hostile && rng.chance(0.5)
        ? rng.pick(['', '/', 'http://', '%%%', `http://${ctx.host}/v2/up?x=1`, 'ftp://x/'])
        : `http://${ctx.host}/v2/fuzz/blobs/uploads/u${rng.int(1000)}?state=1`;
    const range =
      hostile && rng.chance(0.5)
        ? rng.pick(['0-0', '0--1', 'bytes=0-99999999', 'x', `0-${rng.int(1 << 20)}`])
        : '0-0';
    if (req.method === 'PUT') send(hostile ? rng.pick([201, 400, 202, 500]) : 201, { location });
    else send(hostile ? rng.pick([202, 416, 201, 404]) : 202, { location, range });
    return;
  }
  send(404, {});
}

async function listen(ctx: Omit<Ctx, 'server' | 'host'>): Promise<{ server: http.Server; host: string }> {
  const holder = ctx as Ctx;
  const server = http.createServer((req, res) => answer(holder, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export const target: FuzzTarget<Ctx> = {
  name: 'registry',
  caseTimeoutMs: 20_000,
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-fuzz-registry-'));
    const blobs = new Map<string, Blob>();
    const { manifest, index } = makeImage(blobs);
    const partial = { dir, store: openStore(join(dir, 'root')), blobs, manifest, index } as Ctx;
    const { server, host } = await listen(partial);
    partial.server = server;
    partial.host = host;
    // The image a push sends, in the local store.
    for (const b of blobs.values()) await partial.store.content.writeBlob(b.bytes);
    return partial;
  },
  async teardown(ctx) {
    ctx.server.closeAllConnections();
    await new Promise((r) => ctx.server.close(r));
    ctx.store.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  },
  async run(rng, ctx) {
    ctx.scenario = {
      rng: new Rng(rng.int(2 ** 31)),
      hostility: rng.pick([0.05, 0.2, 0.5, 1]),
      auth: rng.pick(['none', 'none', 'bearer', 'basic', 'garbage'] as const),
    };
    const client = new RegistryClient({
      credentials: async () => (rng.chance(0.5) ? { username: 'u', password: 'p' } : undefined),
      retry: { attempts: 1 + rng.int(2), baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 50 },
      idleTimeoutMs: 300,
      chunkSize: rng.pick([8 << 20, 100]),
    });
    const repo = rng.pick(['fuzz/app', 'library/x', 'a/b/c']);
    const ref = `${ctx.host}/${repo}${rng.chance(0.8) ? ':1' : `@${rng.pick([ctx.manifest.digest, ctx.index.digest, sha256('x')])}`}`;
    try {
      switch (rng.int(4)) {
        case 0:
          await client.ping(ctx.host);
          break;
        case 1:
          await pushImage(
            { root: rng.chance(0.5) ? ctx.manifest : ctx.index, blobs: ctx.store.content },
            `${ctx.host}/${repo}:1`,
            { client, concurrency: 1 },
          );
          break;
        default:
          await pullImage(ref, {
            client,
            content: ctx.store.content,
            images: ctx.store.images,
            platform: rng.chance(0.8) ? undefined : 'all',
            concurrency: 1,
          });
      }
    } finally {
      ctx.scenario = undefined;
      // Nothing half-written: a failed pull leaves no temp in the store.
      assert.deepEqual(await ctx.store.content.listIngests(), [], 'a temp file was left in the store');
    }
  },
};
