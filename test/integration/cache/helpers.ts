/**
 * Harness for the travelling-cache suites: two separate state roots (each a fresh machine with
 * busybox), the multi-stage workload W whose RUN steps say when they run, and readers for what a
 * build printed (which RUN steps ran, the image pushed, the warnings).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheMountDir } from '../../../src/executor/run-mounts.ts';
import { type CliRoot, cliRoot } from '../cli/helpers.ts';

export { type CliRoot, cliRoot };

/**
 * W: a builder stage whose RUN fills a cache mount, a second stage copying from it and from the
 * context, a final stage copying the result. Every RUN prints RUNNING-<name> when it runs, so
 * the plain progress log shows exactly which ran (a cached step prints nothing).
 */
export const W = {
  Dockerfile: `FROM busybox AS deps
COPY lib.txt /lib.txt
RUN --mount=type=cache,id=wcache,target=/cache,uid=1234,mode=0750 echo RUNNING-deps && cat /lib.txt > /cache/from-a.txt && cp /lib.txt /deps.out
FROM busybox AS build
COPY --from=deps /deps.out /deps.out
COPY app.txt /app.txt
RUN echo RUNNING-build && cat /deps.out /app.txt > /result.txt
FROM busybox
COPY --from=build /result.txt /result.txt
RUN echo RUNNING-final && wc -c /result.txt > /size.txt
`,
  'lib.txt': 'lib v1\n',
  'app.txt': 'app v1\n',
};

/** The RUN steps of W that ran, by the name they print. */
export function ran(log: string): string[] {
  // A step's output line is `#N 0.123 RUNNING-x`; its header (`#N [deps 3/3] RUN … echo
  // RUNNING-x …`) shows for cached steps too, so only output lines count.
  return [...new Set([...log.matchAll(/^#\d+ [\d.]+ RUNNING-(\w+)$/gm)].map((m) => m[1]))].sort();
}

export interface BuildOut {
  code: number | null;
  err: string;
  id: string;
  /** The pushed manifest digest, when the build pushed. */
  digest?: string;
}

const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');

/** bin/kiln in its own process without blocking this one (a proxy in this process must answer it). */
function kilnAsync(r: CliRoot, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(KILN, args, {
      env: { ...process.env, KILN_ROOT: r.root, NO_COLOR: '1', TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** `kiln build --progress=plain` with `args`, reading the metadata file for the pushed digest. */
export async function buildW(r: CliRoot, ctx: string, args: string[]): Promise<BuildOut> {
  const meta = join(r.dir, `meta-${Math.random().toString(36).slice(2)}.json`);
  const out = await kilnAsync(r, ['build', '--progress=plain', '--metadata-file', meta, ...args, ctx]);
  let digest: string | undefined;
  if (out.code === 0) digest = JSON.parse(await readFile(meta, 'utf8'))['containerimage.digest'];
  return { code: out.code, err: out.err, id: out.out.trim(), digest };
}

/** A copy of `ctx` somewhere else (the same project checked out at another path). */
export async function copyContext(ctx: string, to: string): Promise<string> {
  await cp(ctx, to, { recursive: true });
  return to;
}

/** What cache mount `id` holds in root `r` (one file). */
export async function mountFile(r: CliRoot, id: string, name: string): Promise<string | undefined> {
  return readFile(join(cacheMountDir(r.root, id), name), 'utf8').catch(() => undefined);
}

export function assertOk(b: BuildOut, what: string): void {
  assert.equal(b.code, 0, `${what} failed: ${b.err}`);
}
