/**
 * The daemon-level endpoints: `/_ping` (GET, HEAD), `/version`, `/info`, `/system/df` and
 * `POST /build/prune`, filled from kiln's own version, store and build cache.
 */

import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { BuildCache } from '../cache/build-cache.ts';
import { pruneBuildCache } from '../cache/prune.ts';
import { storeUsage } from '../cache/usage.ts';
import { listImages } from '../imagestore/query.ts';
import { hostPlatform } from '../oci/platform.ts';
import { versionInfo } from '../pipeline/version.ts';
import { resolveRoot } from '../store/root.ts';
import { openSnapshotter } from '../store/snapshots.ts';
import { isoTime } from '../sys/time.ts';
import { API_VERSION, HttpError, MIN_API_VERSION, queryBool, queryFilters } from './api.ts';
import { type ServerConfig, withStore } from './config.ts';
import { checkEventFilters, parseEventTime, streamEvents } from './events.ts';
import { imageSummaryJson } from './image-json.ts';
import { type Route, sendJson } from './router.ts';

/** Headers dockerd sends with every ping: the API version and the builder a client should use. */
function pingHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    // The classic builder's protocol (a tar body, JSON messages): what kiln serves.
    'Builder-Version': '1',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

export function systemRoutes(cfg: ServerConfig): Route[] {
  return [
    {
      methods: ['GET', 'HEAD'],
      pattern: /^\/_ping$/,
      handler: async ({ res, method }) => {
        res.writeHead(200, {
          ...pingHeaders(),
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': 2,
        });
        res.end(method === 'HEAD' ? undefined : 'OK');
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/version$/,
      handler: async ({ res }) => {
        const v = await versionInfo(cfg.root);
        sendJson(res, 200, {
          Platform: { Name: 'kiln' },
          Components: v.Server.Components,
          Version: v.Server.Version,
          ApiVersion: API_VERSION,
          MinAPIVersion: MIN_API_VERSION,
          GitCommit: v.Server.GitCommit ?? '',
          GoVersion: process.version,
          Os: v.Server.Os,
          Arch: v.Server.Arch,
          KernelVersion: release(),
          BuildTime: '',
        });
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/info$/,
      handler: async ({ res }) => {
        const images = await withStore(cfg, (store) => listImages(store));
        const p = hostPlatform();
        sendJson(res, 200, {
          ID: '',
          Containers: 0,
          ContainersRunning: 0,
          ContainersPaused: 0,
          ContainersStopped: 0,
          Images: images.length,
          Driver: 'kiln',
          DriverStatus: [],
          Plugins: { Volume: [], Network: [], Authorization: null, Log: [] },
          MemoryLimit: false,
          SwapLimit: false,
          Debug: false,
          NFd: 0,
          NGoroutines: 0,
          SystemTime: isoTime(),
          LoggingDriver: '',
          CgroupDriver: 'none',
          NEventsListener: 0,
          KernelVersion: release(),
          OperatingSystem: 'kiln',
          OSType: p.os,
          Architecture: p.architecture,
          IndexServerAddress: 'https://index.docker.io/v1/',
          RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
          NCPU: cpus().length,
          MemTotal: totalmem(),
          DockerRootDir: resolveRoot(cfg.root),
          Name: hostname(),
          Labels: [],
          ExperimentalBuild: false,
          ServerVersion: (await versionInfo(cfg.root)).Server.Version,
          Runtimes: { runc: { path: 'runc' } },
          DefaultRuntime: 'runc',
          Swarm: { LocalNodeState: 'inactive', ControlAvailable: false },
          LiveRestoreEnabled: false,
          Isolation: '',
          SecurityOptions: ['name=seccomp,profile=builtin'],
          Warnings: [],
        });
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/system\/df$/,
      handler: async ({ res }) => {
        const { images, usage } = await withStore(cfg, async (store) => ({
          images: await listImages(store),
          usage: await storeUsage(store),
        }));
        const shared = new Map(usage.disk.images.map((u) => [u.digest as string, u.shared]));
        sendJson(res, 200, {
          LayersSize: usage.disk.total,
          Images: images.map((img) => ({
            ...imageSummaryJson(img),
            SharedSize: shared.get(img.digest) ?? 0,
          })),
          Containers: [],
          Volumes: [],
          BuildCache: usage.buildCache.records
            .filter((r) => r.type !== 'internal')
            .map((r) => ({
              ID: r.id,
              Parent: r.parents[0] ?? '',
              Parents: r.parents,
              Type: r.type,
              Description: r.description,
              InUse: !r.reclaimable,
              Shared: r.shared,
              Size: r.size,
              CreatedAt: r.createdAt ?? '',
              LastUsedAt: r.lastUsedAt ?? null,
              UsageCount: r.usageCount,
            })),
        });
      },
    },
    {
      // kiln has no networks or volumes, so any one named does not exist: docker-compose looks
      // its project's network up before a build and goes on when it is not found.
      methods: ['GET'],
      pattern: /^\/(networks|volumes)\/([^/]+)$/,
      handler: async ({ res, params: [kind, name] }) => {
        const what = kind === 'networks' ? `network ${name} not found` : `get ${name}: no such volume`;
        sendJson(res, 404, { message: what });
      },
    },
    {
      methods: ['POST'],
      pattern: /^\/build\/prune$/,
      handler: async ({ res, query }) => {
        // docker builder prune: --all, and `until=` as the filter kiln's keep-duration is.
        let unusedForMs: number | undefined;
        for (const f of queryFilters(query)) {
          const [k, v] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
          if (k !== 'until' && k !== 'unused-for')
            throw new HttpError(400, 'INVALID_FILTER', `build cache prune does not take the filter "${k}"`);
          const ms = durationMs(v);
          if (ms === undefined)
            throw new HttpError(400, 'INVALID_FILTER', `invalid duration "${v}" in ${k}=`);
          unusedForMs = ms;
        }
        const r = await withStore(cfg, async (store) => {
          const cache = new BuildCache(join(store.root, 'buildcache.db'));
          try {
            const sn = await openSnapshotter(join(store.root, 'snapshots'));
            try {
              return await pruneBuildCache(cache, sn, { all: queryBool(query, 'all'), unusedForMs });
            } finally {
              await sn.release();
            }
          } finally {
            cache.close();
          }
        });
        cfg.events.emit('builder', 'prune', '', { reclaimed: String(r.bytesFreed) });
        sendJson(res, 200, { CachesDeleted: [], SpaceReclaimed: r.bytesFreed });
      },
    },
    {
      methods: ['GET'],
      pattern: /^\/events$/,
      handler: async ({ res, query, signal }) => {
        const filters: Record<string, string[]> = {};
        for (const f of queryFilters(query)) {
          const i = f.indexOf('=');
          const k = f.slice(0, i);
          filters[k] = [...(filters[k] ?? []), f.slice(i + 1)];
        }
        await streamEvents(cfg.events, res, {
          since: parseEventTime(query.get('since'), 'since'),
          until: parseEventTime(query.get('until'), 'until'),
          filters: checkEventFilters(filters),
          signal,
        });
      },
    },
  ];
}

/** Go's time.ParseDuration for the units docker users write (`24h`, `30m`, `1h30m`). */
export function durationMs(text: string): number | undefined {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  if (!rest) return undefined;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}
