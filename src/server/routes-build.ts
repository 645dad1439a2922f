/**
 * POST /build: docker's classic build protocol over kiln's build(). The context tar streams from
 * the body into a private directory (context.ts); the query becomes BuildOptions; progress goes
 * back as `stream` messages in BuildKit's plain display, then `aux` with the image ID and the
 * `Successfully built/tagged` lines docker-compose and docker-py look for. The request's signal
 * (the client going away, the server giving up) cancels the build.
 */

import { join } from 'node:path';
import { type CacheSpec, parseCacheSpec } from '../cache/remote/spec.ts';
import { parsePlatform } from '../oci/platform.ts';
import { build } from '../pipeline/build.ts';
import { isRemoteContext } from '../pipeline/input.ts';
import type { BuildOptions } from '../pipeline/options.ts';
import { resolveOutputs } from '../pipeline/output-spec.ts';
import { parseAddHost } from '../pipeline/run-settings.ts';
import { errorText } from '../progress/events.ts';
import { createRenderer } from '../progress/render.ts';
import { familiarName, parseReference } from '../reference/reference.ts';
import { resolveRoot } from '../store/root.ts';
import { HttpError, queryBool, queryJsonMap } from './api.ts';
import type { ServerConfig } from './config.ts';
import { receiveContext } from './context.ts';
import { startJsonStream } from './json-stream.ts';
import { clientCredentials } from './registry-auth.ts';
import type { RequestContext, Route } from './router.ts';

/** docker's networkmode → kiln's RUN network (and the entitlement host networking needs). */
function network(mode: string | null): Pick<BuildOptions, 'network' | 'allow'> {
  if (!mode || mode === 'default' || mode === 'bridge') return { network: 'default' };
  if (mode === 'none') return { network: 'none' };
  // dockerd's classic builder lets a build ask for the host's network; so does kiln serve.
  if (mode === 'host') return { network: 'host', allow: ['network.host'] };
  throw new HttpError(
    400,
    'INVALID_QUERY',
    `networkmode "${mode}" is not one kiln builds with`,
    'use default, none or host',
  );
}

/**
 * `cachefrom`: a JSON list of images whose build cache to use (an inline cache, or a kiln cache
 * artifact). Only references: a client never names a directory on the server to read.
 */
function cacheFrom(q: URLSearchParams): CacheSpec[] {
  const text = q.get('cachefrom');
  if (!text) return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_QUERY', `query parameter cachefrom is not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(v) || v.some((r) => typeof r !== 'string'))
    throw new HttpError(
      400,
      'INVALID_QUERY',
      'query parameter cachefrom must be a JSON list of image references',
    );
  return (v as string[]).filter(Boolean).map((ref) => {
    if (ref.includes('=') || ref.includes(','))
      throw new HttpError(
        400,
        'INVALID_QUERY',
        `cachefrom takes image references, not "${ref.slice(0, 200)}"`,
      );
    parseReference(ref);
    return parseCacheSpec(ref, 'from');
  });
}

/** The query as BuildOptions, checked before any of the body is read. */
export function buildOptions(q: URLSearchParams): Omit<BuildOptions, 'context'> {
  if (q.get('version') === '2')
    throw new HttpError(
      400,
      'BUILDKIT_SESSION',
      'kiln serve speaks the classic build protocol, not a BuildKit session',
      'set DOCKER_BUILDKIT=0 for the docker CLI (kiln builds with its own BuildKit-compatible engine either way)',
    );
  const tags = q.getAll('t').filter(Boolean);
  for (const t of tags) parseReference(t);
  const shm = q.get('shmsize');
  const hosts = q.get('extrahosts');
  return {
    tags,
    buildArgs: queryJsonMap(q, 'buildargs'),
    labels: queryJsonMap(q, 'labels'),
    target: q.get('target') || undefined,
    platforms: (q.get('platform') ?? '')
      .split(',')
      .filter(Boolean)
      .map((p) => parsePlatform(p)),
    outputs: resolveOutputs([], tags, false, false, []),
    noCache: queryBool(q, 'nocache'),
    noCacheFilter: [],
    cacheFrom: cacheFrom(q),
    pull: queryBool(q, 'pull'),
    secrets: [],
    ssh: [],
    buildContexts: {},
    ...network(q.get('networkmode')),
    extraHosts: hosts ? hosts.split(',').filter(Boolean).flatMap(parseAddHost) : undefined,
    shmSize: shm && shm !== '0' ? Number(shm) : undefined,
  };
}

async function serveBuild(cfg: ServerConfig, ctx: RequestContext): Promise<void> {
  const { query, signal } = ctx;
  const options = buildOptions(query);
  const quiet = queryBool(query, 'q');
  // `remote=`: a git URL or an http(s) URL of a context tar or a Dockerfile, fetched by kiln
  // (docker-py sends this; the docker CLI fetches such contexts itself and sends the tar).
  const remote = query.get('remote');
  // Never a path: a client of the socket must not make a host directory the context.
  if (remote && !(isRemoteContext(remote) && /^(https?|git):\/\//.test(remote)))
    throw new HttpError(
      400,
      'INVALID_QUERY',
      `remote "${remote}" is not a git or http(s) URL`,
      "send an https, http or git:// URL (ssh is refused: it would use the server's keys), or the context as the body",
    );
  const input: Pick<BuildOptions, 'context' | 'dockerfile' | 'dockerfileText' | 'contextExtracted'> & {
    cleanup(): void;
  } = remote
    ? {
        context: remote,
        dockerfile: query.get('dockerfile') || undefined,
        cleanup: () => ctx.req.resume(),
      }
    : await receiveContext(ctx.req, {
        maxBody: cfg.maxBody,
        signal,
        dockerfile: query.get('dockerfile') ?? undefined,
        // The same project built again: its tags and Dockerfile pick the directory to sync into.
        key: JSON.stringify([query.getAll('t'), query.get('dockerfile') ?? '']),
        tmpDir: join(resolveRoot(cfg.root), 'tmp'),
      }).then((r) => ({
        context: r.dir,
        dockerfileText: r.dockerfileText,
        contextExtracted: true,
        cleanup: r.cleanup,
      }));
  const out = startJsonStream(ctx.res);
  const renderer = createRenderer(quiet ? 'quiet' : 'plain', out.textWriter());
  try {
    const result = await build(
      {
        ...options,
        context: input.context,
        dockerfile: input.dockerfile,
        dockerfileText: input.dockerfileText,
        contextExtracted: input.contextExtracted,
        maxRemoteContextBytes: cfg.maxBody,
        progress: renderer.sink,
        signal,
      },
      // Base images are pulled with the client's X-Registry-Config, never the server's logins.
      { root: cfg.root, credentials: clientCredentials(ctx.req.headers) },
    );
    renderer.close();
    const id = result.imageId ?? '';
    for (const t of options.tags)
      cfg.events.emit('image', 'tag', id, { name: familiarName(parseReference(t)) });
    await out.send({ aux: { ID: id } });
    if (quiet) await out.text(`${id}\n`);
    else {
      await out.text(`Successfully built ${id.replace(/^sha256:/, '').slice(0, 12)}\n`);
      for (const t of options.tags)
        await out.text(`Successfully tagged ${familiarName(parseReference(t))}\n`);
    }
    out.end();
  } catch (err) {
    renderer.close();
    // The progress shown has the failed step's output: the error need not repeat it.
    if (!quiet && err instanceof Error) err.message = errorText(err);
    await out.fail(err);
  } finally {
    input.cleanup();
  }
}

export function buildRoutes(cfg: ServerConfig): Route[] {
  return [{ methods: ['POST'], pattern: /^\/build$/, handler: (ctx) => serveBuild(cfg, ctx) }];
}
