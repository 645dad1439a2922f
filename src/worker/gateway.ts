/**
 * Gateway frontends: a build file's frontend as a container image (`# syntax=IMAGE`, or
 * `--frontend gateway --opt source=IMAGE`). The image runs once per platform, with no network,
 * in a throwaway snapshot (what it writes is discarded), with the request mounted read-only at
 * /run/kiln-frontend: `request.json` (protocol version, the build file's name, platforms,
 * target, build args, labels, the `--opt`s) and `input` (the build file's bytes). It must print
 * a graph definition (docs/graph.md) on stdout and exit 0 within the time limit; its stdout is
 * capped, and its stderr's tail is shown when it fails. The protocol is docs/gateway.md.
 */
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import type { Executor } from '../executor/executor.ts';
import type { Platform } from '../oci/platform.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { makeOwnedDir } from '../sys/owner.ts';
import type { BaseImages } from './images.ts';
import { top } from './state.ts';

/** Where the request is mounted in the frontend's container. */
export const GATEWAY_DIR = '/run/kiln-frontend';
/** A graph file's own bound: more output than a graph may be is not read. */
const MAX_OUTPUT = 64 << 20;
const STDERR_TAIL = 4096;

export interface GatewayDeps {
  images: BaseImages;
  snapshotter: Snapshotter;
  executor: Executor;
  /** kiln's state root (scratch directories). */
  stateRoot: string;
  signal?: AbortSignal;
}

export interface GatewayRequest {
  version: 1;
  /** The build file's name (its bytes are at /run/kiln-frontend/input). */
  file: string;
  platform: Platform;
  buildPlatform: Platform;
  target?: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /** `--opt key=value`, as given. */
  opts: Record<string, string>;
}

/** Run the frontend image `ref` on `input`; its stdout (a graph definition, unchecked). */
export async function runGateway(
  deps: GatewayDeps,
  ref: string,
  input: string,
  request: GatewayRequest,
  timeoutMs: number,
): Promise<string> {
  let img: Awaited<ReturnType<BaseImages['resolve']>>;
  let state: Awaited<ReturnType<BaseImages['unpack']>>;
  try {
    img = await deps.images.resolve(ref, request.buildPlatform);
    state = await deps.images.unpack(img, deps.snapshotter);
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    // Say which image it was: the build file names it in a comment, not as a base.
    throw new KilnError(err.code, `frontend image ${ref}: ${err.message}`, { cause: err, hint: err.hint });
  }
  const cfg = img.config.config ?? {};
  const args = [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])];
  if (args.length === 0) {
    throw new KilnError('GATEWAY_FAILED', `frontend image ${ref} has no entrypoint or command to run`, {
      hint: 'give the image an ENTRYPOINT that prints the graph (docs/gateway.md)',
    });
  }
  const dir = await makeOwnedDir(deps.stateRoot, 'bind');
  const key = `gateway-${randomUUID()}`;
  try {
    await writeFile(join(dir, 'request.json'), `${JSON.stringify(request, null, 2)}\n`, { mode: 0o644 });
    await writeFile(join(dir, 'input'), input, { mode: 0o644 });
    const rootfs = await deps.snapshotter.prepare(key, top(state));
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = '';
    const tooMuch = new AbortController();
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout, tooMuch.signal, ...(deps.signal ? [deps.signal] : [])];
    try {
      await deps.executor.run(
        {
          rootfs,
          args,
          env: [...(cfg.Env ?? []), `KILN_FRONTEND_DIR=${GATEWAY_DIR}`],
          cwd: cfg.WorkingDir || '/',
          user: cfg.User || undefined,
          network: 'none',
          mounts: [{ type: 'bind', source: dir, target: GATEWAY_DIR, readonly: true }],
          platform: request.buildPlatform,
        },
        {
          stdout: (chunk) => {
            outBytes += chunk.length;
            if (outBytes > MAX_OUTPUT) tooMuch.abort();
            else out.push(chunk);
          },
          stderr: (chunk) => {
            errTail = (errTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
          },
          signal: AbortSignal.any(signals),
        },
      );
    } catch (err) {
      if (deps.signal?.aborted) throw err;
      const said = errTail.trim() ? `; it said:\n${errTail.trim()}` : '';
      if (tooMuch.signal.aborted) {
        throw new KilnError(
          'GATEWAY_OUTPUT_TOO_LARGE',
          `frontend image ${ref} printed more than ${MAX_OUTPUT >> 20} MiB`,
          {
            cause: err,
          },
        );
      }
      if (timeout.aborted) {
        throw new KilnError(
          'GATEWAY_TIMEOUT',
          `frontend image ${ref} did not finish within ${Math.round(timeoutMs / 1000)} s${said}`,
          {
            cause: err,
            hint: 'a frontend must print its graph and exit; raise the limit with --opt timeout=SECONDS',
          },
        );
      }
      // The runtime's own error carries the output tail too: say it once, from stderr.
      const exit = (err as { exitStatus?: unknown }).exitStatus;
      const how =
        typeof exit === 'number' ? `exited with code ${exit}` : (err as Error).message.split('\n')[0];
      throw new KilnError('GATEWAY_FAILED', `frontend image ${ref} failed: ${how}${said}`, { cause: err });
    }
    return Buffer.concat(out).toString('utf8');
  } finally {
    await deps.snapshotter.remove(key).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
