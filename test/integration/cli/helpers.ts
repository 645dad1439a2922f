/**
 * Harness for the CLI suites: a fresh state root under /tmp with busybox:latest (amd64 + arm64)
 * whose store is closed again, so every command runs as a user would run it — bin/kiln in its
 * own process — and `du -sb` sees the root as it is between commands (no database held open).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { seedBusybox } from '../../../src/testing/fixtures.ts';

const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');

export interface CliRoot {
  dir: string;
  root: string;
  /** Run bin/kiln against this root. */
  kiln(
    args: string[],
    opts?: { input?: string; env?: Record<string, string> },
  ): { code: number | null; out: string; err: string };
  /** Run bin/kiln and insist on success; returns stdout. */
  ok(args: string[], opts?: { input?: string }): string;
  /** A context directory holding `files`. */
  context(files: Record<string, string>): Promise<string>;
  /** `du -sb` of the root. */
  du(): number;
  close(): Promise<void>;
}

let contexts = 0;

export async function cliRoot(name: string): Promise<CliRoot> {
  const dir = await mkdtemp(join(tmpdir(), `kiln-cli-${name}-`));
  const root = join(dir, 'root');
  await seedBusybox(root);
  const kiln: CliRoot['kiln'] = (args, opts = {}) => {
    const r = spawnSync(KILN, args, {
      encoding: 'utf8',
      input: opts.input ?? '',
      env: { ...process.env, KILN_ROOT: root, NO_COLOR: '1', TZ: 'UTC', ...opts.env },
      maxBuffer: 64 << 20,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  return {
    dir,
    root,
    kiln,
    ok: (args, opts) => {
      const r = kiln(args, opts);
      assert.equal(r.code, 0, `kiln ${args.join(' ')} failed (${r.code}): ${r.err}`);
      return r.out;
    },
    context: async (files) => {
      const ctx = join(dir, `ctx-${++contexts}`);
      for (const [path, data] of Object.entries(files)) {
        await mkdir(dirname(join(ctx, path)), { recursive: true });
        await writeFile(join(ctx, path), data);
      }
      return ctx;
    },
    du: () => {
      const r = spawnSync('du', ['-sb', root], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout.split('\t')[0]);
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Bytes from one of docker's human sizes ("2.13MB", "512kB", "0B"). */
export function parseHumanSize(text: string): number {
  const m = /^([\d.]+(?:e[+-]\d+)?)(B|kB|MB|GB|TB)$/.exec(text.trim());
  assert.ok(m, `not a docker size: ${text}`);
  return Number(m[1]) * 1000 ** ['B', 'kB', 'MB', 'GB', 'TB'].indexOf(m[2]);
}

/** `a` is within `percent` of `b`. */
export function near(a: number, b: number, percent: number, what: string): void {
  assert.ok(
    Math.abs(a - b) <= (Math.max(a, b) * percent) / 100,
    `${what}: ${a} and ${b} differ by more than ${percent}%`,
  );
}
