/**
 * The image endpoints over kiln's image store: list, inspect, history, tag, remove, save
 * (`/images/{name}/get`, `/images/get`), load, pull and import (`/images/create`) and push,
 * each the library call the matching `kiln` command makes, answered in dockerd's shapes.
 */
import { pipeline } from 'node:stream/promises';
import { hasCode } from '../errors/errors.ts';
import { compressImage } from '../image/convert.ts';
import { filterImages, parseImageFilters } from '../imagestore/filters.ts';
import { imageHistory } from '../imagestore/history.ts';
import { importRootfs } from '../imagestore/import.ts';
import { findImage, imageId, inspectImage, listImages, resolveImage, tagImage } from '../imagestore/query.ts';
import { type Platform, parsePlatform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { familiarName, formatReference, parseReference, repositoryName } from '../reference/reference.ts';
import { mountSourcesFromNames } from '../registry/mount-sources.ts';
import { pullImage } from '../registry/pull.ts';
import { pushImage } from '../registry/push.ts';
import { removeImages } from '../store/remove.ts';
import { loadArchive } from '../tarball/load.ts';
import { writeArchive } from '../tarball/save.ts';
import { HttpError, queryBool, queryFilters } from './api.ts';
import { limitedBody } from './body.ts';
import { type ServerConfig, withStore } from './config.ts';
import { historyJson, imageSummaryJson } from './image-json.ts';
import { type JsonStream, startJsonStream } from './json-stream.ts';
import { clientRegistry } from './registry-auth.ts';
import { type RequestContext, type Route, sendJson } from './router.ts';

/** dockerd's "No such image" for a name the store does not have. */
function notFound(name: string): (err: unknown) => never {
  return (err) => {
    if (hasCode(err, 'IMAGE_NOT_FOUND'))
      throw new HttpError(404, 'IMAGE_NOT_FOUND', `No such image: ${name}`);
    throw err;
  };
}

function platformParam(ctx: RequestContext): Platform | undefined {
  const p = ctx.query.get('platform');
  if (!p) return undefined;
  // API ≥ 1.46 sends an OCI platform as JSON; older clients the os/arch[/variant] string.
  if (p.startsWith('{')) {
    const o = JSON.parse(p) as { os?: string; architecture?: string; variant?: string };
    return parsePlatform([o.os, o.architecture, o.variant].filter(Boolean).join('/'));
  }
  return parsePlatform(p);
}

/** Registry progress as docker's pull/push lines: one per blob when it starts and when it is done. */
function blobLines(out: JsonStream, doneStatus: string): ProgressSink {
  const seen = new Set<string>();
  return (e) => {
    if (e.type !== 'status' || !e.id.startsWith('sha256:')) return;
    const id = e.id.slice(7, 19);
    if (!seen.has(id)) {
      seen.add(id);
      if (!e.done) void out.send({ status: 'Waiting', id });
    }
    if (e.done)
      void out.send({
        status: e.name.startsWith('mounted') ? 'Mounted from another repository' : doneStatus,
        id,
      });
  };
}

async function save(cfg: ServerConfig, ctx: RequestContext, names: string[]): Promise<void> {
  await withStore(cfg, async (store) => {
    const images = [];
    for (const n of names) {
      const rec = await findImage(store, n).catch(notFound(n));
      const byName = (await store.images.get(n).catch(() => undefined)) !== undefined;
      images.push({ name: byName ? rec.name : undefined, root: rec.target });
      cfg.events.emit('image', 'save', imageId(await resolveImage(store.content, rec)), { name: n });
    }
    const archive = writeArchive(store.content, images, { format: 'docker', platform: platformParam(ctx) });
    ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    // A client that goes away ends the archive (and its reads) with it.
    await pipeline(archive, ctx.res).catch(() => ctx.res.destroy());
  });
}

export function imageRoutes(cfg: ServerConfig): Route[] {
  return [
    {
      methods: ['GET'],
      pattern: /^\/images\/json$/,
      handler: async ({ res, query }) => {
        const filters = parseImageFilters(queryFilters(query));
        const images = await withStore(cfg, async (store) =>
          filterImages(store, await listImages(store), filters),
        );
        images.sort((a, b) => (Date.parse(b.created ?? '') || 0) - (Date.parse(a.created ?? '') || 0));
        sendJson(res, 200, images.map(imageSummaryJson));
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/images\/get$/,
      handler: (ctx) => save(cfg, ctx, ctx.query.getAll('names')),
    },
    {
      methods: ['POST'],
      pattern: /^\/images\/load$/,
      handler: async ({ req, res }) => {
        const body = limitedBody(req, cfg.maxBody, 'the archive');
        const loaded = await withStore(cfg, (store) =>
          store.withLease(async (content) => {
            const r = await loadArchive(body, content, store.images);
            const lines: string[] = [];
            for (const img of r.images) {
              if (img.names.length) {
                for (const n of img.names) {
                  lines.push(`Loaded image: ${familiarName(parseReference(n))}\n`);
                  cfg.events.emit('image', 'load', n, { name: n });
                }
                continue;
              }
              // Unnamed images stay as docker's <none>:<none>, under the ID printed for them.
              await store.images.keepUnnamed(img.root);
              const rr = await resolveImage(store.content, {
                name: '',
                target: img.root,
                updatedAt: '',
              }).catch(() => undefined);
              lines.push(`Loaded image ID: ${rr ? imageId(rr) : img.root.digest}\n`);
              cfg.events.emit('image', 'load', rr ? imageId(rr) : img.root.digest);
            }
            return lines;
          }),
        );
        // dockerd's quiet=1 drops progress bars only: the result lines are always sent.
        const out = startJsonStream(res);
        for (const l of loaded) await out.text(l);
        out.end();
      },
    },
    {
      methods: ['POST'],
      pattern: /^\/images\/create$/,
      handler: (ctx) => (ctx.query.get('fromSrc') ? importImage(cfg, ctx) : pull(cfg, ctx)),
    },
    {
      methods: ['GET'],
      pattern: /^\/images\/(.+)\/json$/,
      handler: async ({ res, params: [name], query }) => {
        const platform = query.get('platform') ? parsePlatform(query.get('platform')!) : undefined;
        const img = await withStore(cfg, (store) =>
          inspectImage(store, name, platform).catch(notFound(name)),
        );
        sendJson(res, 200, {
          ...img,
          Container: '',
          ContainerConfig: {},
          GraphDriver: { Name: 'kiln', Data: null },
        });
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/images\/(.+)\/history$/,
      handler: async ({ res, params: [name] }) => {
        const rows = await withStore(cfg, (store) => imageHistory(store, name).catch(notFound(name)));
        sendJson(res, 200, historyJson(rows));
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/images\/(.+)\/get$/,
      handler: (ctx) => save(cfg, ctx, [ctx.params[0]]),
    },
    {
      methods: ['POST'],
      pattern: /^\/images\/(.+)\/tag$/,
      handler: async ({ res, params: [name], query }) => {
        const repo = query.get('repo');
        if (!repo) throw new HttpError(400, 'INVALID_QUERY', 'repo is required to tag an image');
        const tag = query.get('tag') || 'latest';
        const target = formatReference({ ...parseReference(repo), tag });
        const id = await withStore(cfg, async (store) => {
          await tagImage(store, name, target).catch(notFound(name));
          return imageId(await findImage(store, target).then((r) => resolveImage(store.content, r)));
        });
        cfg.events.emit('image', 'tag', id, { name: familiarName(parseReference(target)) });
        res.writeHead(201).end();
      },
    },
    {
      methods: ['POST'],
      pattern: /^\/images\/(.+)\/push$/,
      handler: (ctx) => push(cfg, ctx),
    },
    {
      methods: ['DELETE'],
      pattern: /^\/images\/(.+)$/,
      handler: async ({ res, params: [name], query }) => {
        const r = await withStore(cfg, (store) =>
          removeImages(store, [name], {
            force: queryBool(query, 'force'),
            noPrune: queryBool(query, 'noprune'),
          }).catch(notFound(name)),
        );
        for (const i of r.items) {
          if ('untagged' in i) cfg.events.emit('image', 'untag', i.untagged, { name: i.untagged });
          else cfg.events.emit('image', 'delete', i.deleted, { name });
        }
        sendJson(
          res,
          200,
          r.items.map((i) => ('untagged' in i ? { Untagged: i.untagged } : { Deleted: i.deleted })),
        );
      },
    },
  ];
}

/** POST /images/create?fromImage=…&tag=…: a pull, reported as docker's status lines. */
async function pull(cfg: ServerConfig, ctx: RequestContext): Promise<void> {
  const from = ctx.query.get('fromImage');
  if (!from) throw new HttpError(400, 'INVALID_QUERY', 'fromImage or fromSrc is required');
  const tag = ctx.query.get('tag');
  const ref = parseReference(tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from);
  const client = clientRegistry(cfg.root, ctx.req.headers, ctx.signal);
  const platform = platformParam(ctx);
  const out = startJsonStream(ctx.res);
  try {
    await out.send({
      status: `Pulling from ${familiarName({ domain: ref.domain, path: ref.path })}`,
      id: ref.tag ?? ref.digest,
    });
    const result = await withStore(cfg, (store) =>
      store.withLease((content) =>
        pullImage(ref, {
          client,
          platform,
          content,
          images: store.images,
          onProgress: blobLines(out, 'Pull complete'),
        }),
      ),
    );
    await out.send({ status: `Digest: ${result.index?.digest ?? result.descriptor.digest}` });
    cfg.events.emit('image', 'pull', familiarName(ref), { name: familiarName(ref) });
    await out.send({
      status: `Status: ${result.copy.copied > 1 ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(ref)}`,
    });
    out.end();
  } catch (err) {
    await out.fail(err);
  }
}

/** POST /images/create?fromSrc=-: `docker import` of a rootfs tar in the body. */
async function importImage(cfg: ServerConfig, ctx: RequestContext): Promise<void> {
  const src = ctx.query.get('fromSrc') ?? '-';
  if (src !== '-' && !/^https?:\/\//.test(src))
    throw new HttpError(
      400,
      'INVALID_QUERY',
      `fromSrc "${src}" is neither - (the body) nor an http(s) URL`,
      'send the rootfs tar as the body with fromSrc=-, or name an http(s) URL',
    );
  const repo = ctx.query.get('repo');
  const name = repo
    ? // The docker CLI sends `repo=name:tag` and no tag; dockerd takes the tag from either.
      formatReference({
        ...parseReference(repo),
        tag: ctx.query.get('tag') || parseReference(repo).tag || 'latest',
      })
    : undefined;
  // docker import URL: dockerd downloads it; bounded like a body.
  const download =
    src === '-'
      ? undefined
      : await (await import('../context/remote.ts')).openDownload(src, {
          maxBytes: cfg.maxBody,
          signal: ctx.signal,
        });
  if (download) ctx.req.resume();
  const body = download?.stream ?? limitedBody(ctx.req, cfg.maxBody, 'the rootfs tar');
  const res = await withStore(cfg, (store) =>
    store.withLease(async (content) => {
      const r = await importRootfs(body, content, store.images, {
        name,
        platform: platformParam(ctx),
        changes: ctx.query.getAll('changes'),
        message: ctx.query.get('message') ?? undefined,
        sourceName: src,
      });
      if (!name) await store.images.keepUnnamed(r.manifest);
      return r;
    }),
  );
  cfg.events.emit('image', 'import', res.config.digest, name ? { name } : {});
  const out = startJsonStream(ctx.res);
  await out.send({ status: res.config.digest });
  out.end();
}

/** POST /images/{name}/push?tag=…: compress and upload, reported as docker's push lines. */
async function push(cfg: ServerConfig, ctx: RequestContext): Promise<void> {
  const [name] = ctx.params;
  const tag = ctx.query.get('tag');
  const source = tag ? `${name}:${tag}` : name;
  const ref = parseReference(source);
  const client = clientRegistry(cfg.root, ctx.req.headers, ctx.signal);
  await withStore(cfg, async (store) => {
    const rec = await findImage(store, source).catch(notFound(source));
    const out = startJsonStream(ctx.res);
    try {
      await out.send({ status: `The push refers to repository [${repositoryName(ref)}]` });
      const guess = await mountSourcesFromNames(store.images, store.content, ref);
      const result = await store.withLease(async () => {
        const root = await compressImage(store.content, rec.target);
        return pushImage({ root, blobs: store.content }, ref, {
          client,
          mountFrom: (d) => guess(d),
          onProgress: blobLines(out, 'Pushed'),
        });
      });
      const d = result.descriptor;
      await out.send({ status: `${ref.tag ?? 'latest'}: digest: ${d.digest} size: ${d.size}` });
      await out.send({ aux: { Tag: ref.tag ?? 'latest', Digest: d.digest, Size: d.size } });
      cfg.events.emit('image', 'push', familiarName(ref), { name: familiarName(ref) });
      out.end();
    } catch (err) {
      await out.fail(err);
    }
  });
}
