/**
 * What the security tests share: bin/kiln run as a child whose output is watched as it comes,
 * sentinels (host files outside the root whose every byte, mode and type must stay as they
 * were), and views of what a kiln run can leave behind (mounts, runc containers, bundles).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { KILN, type Suite } from '../integration/build/helpers.ts';

export interface Running {
  child: ChildProcess;
  /** Resolves when `text` has appeared on stderr (rejects if kiln exits first). */
  stderrShows(text: string | RegExp): Promise<void>;
  /** Exit status (or 128 + signal number) and all output, once kiln has exited. */
  done: Promise<{ code: number; out: string; err: string; ms: number }>;
}

/** Start bin/kiln with this suite's root; stdout and stderr are collected. */
export function startKiln(suite: Suite, args: string[], env: Record<string, string> = {}): Running {
  const started = Date.now();
  const child = spawn(KILN, args, {
    env: { ...process.env, KILN_ROOT: suite.root, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { match: string | RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...waiters]) {
      if (typeof w.match === 'string' ? err.includes(w.match) : w.match.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const done = new Promise<{ code: number; out: string; err: string; ms: number }>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 0),
        out,
        err,
        ms: Date.now() - started,
      }),
    ),
  );
  return {
    child,
    done,
    stderrShows: (match) =>
      new Promise<void>((resolve, reject) => {
        if (typeof match === 'string' ? err.includes(match) : match.test(err)) return resolve();
        waiters.push({ match, resolve });
        void done.then((r) =>
          reject(new Error(`kiln exited (${r.code}) before showing ${match}:\n${r.err}`)),
        );
      }),
  };
}

/** Mount points at or below `dir` in this mount namespace. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp): mp is string => Boolean(mp) && (mp === dir || mp.startsWith(`${dir}/`)));
}

/** Poll `check` every 50 ms until it holds or `ms` passes. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** runc containers under the root's runc state (none once every run is cleaned up). */
export function runcContainers(root: string): string[] {
  const r = spawnSync('runc', ['--root', join(root, 'runc'), 'list', '-q'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Entries of a directory, or [] when it does not exist. */
export function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every path under `dir` with its type, mode, device number and content hash or link target. */
export function treeState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} rdev=${st.rdev}`;
    if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(p)}`;
    out[rel || '.'] = what;
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

/** Regular files under `dir` (not following links) whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: Buffer): string[] {
  const hits: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
  };
  walk(dir);
  return hits;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A stack trace in CLI output means an error escaped as a crash instead of a KilnError. */
export function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at .+[:(]\d+/, `a stack trace was printed:\n${stderr}`);
}

/**
 * After a test that may have failed half-way (or ran against old code): kill the root's
 * containers and unmount what is mounted under it, so removing the suite's files cannot reach
 * through a mount and nothing keeps running.
 */
export function forceClean(root: string): void {
  for (const id of runcContainers(root)) {
    spawnSync('runc', ['--root', join(root, 'runc'), 'kill', '--all', id, 'KILL']);
    spawnSync('runc', ['--root', join(root, 'runc'), 'delete', '--force', id]);
  }
  for (const mp of mountsUnder(root).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', mp]);
}

/** Highest resident set size (VmHWM, bytes) of a running process, or 0 once it has gone. */
export function peakRss(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
