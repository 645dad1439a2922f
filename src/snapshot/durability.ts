/**
 * When a committed snapshot's files are known to be on disk.
 *
 * kiln does not sync a snapshot when it commits one: a build step's writable overlay is mounted
 * `volatile` (its unmount would otherwise sync the whole backing filesystem, every process's
 * dirty data, once a step), and layers unpacked or copied into a snapshot directory were never
 * synced either. Instead each commit records the boot it happened in and a CLOCK_MONOTONIC time
 * (the same clock in every process of one boot), and a build that committed anything starts one
 * detached `sync -f` of the root's filesystem at its end, whose mark names the boot and the time
 * it started. In the same boot a snapshot is trusted (the page cache holds what was
 * written, whatever happens to kiln); after a restart it is trusted only if a mark of its boot
 * started after its commit, and otherwise dropped at the next open (a crash may have left its
 * files half-written). Dropping costs a rebuild of the steps: their layer blobs are fsynced and
 * stay.
 *
 * The mark is made by kiln, before it returns, as a file with the modification time 0 (pending);
 * the sync, once finished, sets that time with `touch -c`, which never creates a file. The
 * detached process thus adds no directory entry after kiln has returned: a root removed right
 * after a build (a CI job's `rm -rf` of its temporary `--root`) cannot meet a mark appearing in a
 * directory it has just emptied. Nor can it bring back one a removal took.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../errors/errors.ts';
import { spawnDetached } from '../sys/exec.ts';

/** Where and when a snapshot was committed without a sync. */
export interface Unsynced {
  boot: string;
  /** CLOCK_MONOTONIC milliseconds at the commit. */
  at: number;
}

let boot: string | undefined;

/** This boot's id (the kernel's random boot id; '' when /proc cannot tell). */
export function bootId(): string {
  boot ??= (() => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      return '';
    }
  })();
  return boot;
}

/** CLOCK_MONOTONIC in whole milliseconds: comparable between processes of one boot. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export function unsyncedNow(): Unsynced {
  return { boot: bootId(), at: monotonicMs() };
}

const MARK = /^([0-9a-f-]{1,64})@(\d{1,16})$/;

/**
 * The sync marks in a directory: each mark's file name, boot, start and whether its sync has
 * finished, and each boot's latest start of a finished one.
 */
export interface Marks {
  dir: string;
  all: { name: string; boot: string; at: number; done: boolean }[];
  latest: Map<string, number>;
}

/** The sync marks under `dir` (none when it does not exist). */
export async function readMarks(dir: string): Promise<Marks> {
  const marks: Marks = { dir, all: [], latest: new Map() };
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = MARK.exec(name);
    if (!m) continue;
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    const at = Number(m[2]);
    // Pending (time 0) until its sync has touched it.
    const done = st.mtimeMs !== 0;
    marks.all.push({ name, boot: m[1], at, done });
    if (done && at > (marks.latest.get(m[1]) ?? -1)) marks.latest.set(m[1], at);
  }
  return marks;
}

/** Whether a snapshot committed as `u` may be trusted now, given the marks. */
export function trusted(u: Unsynced | undefined, marks: Marks): boolean {
  // A commit whose boot could not be read (no /proc) cannot be judged: trusted, as before.
  if (!u || u.boot === '' || u.boot === bootId()) return true;
  return (marks.latest.get(u.boot) ?? -1) >= u.at;
}

/**
 * Keep, of the marks read, each boot's latest finished one (and this boot's pending ones after
 * it, whose syncs may still run), and only for this boot and the boots in `keep`: an older mark
 * says less than a newer one of its boot, a pending one of an earlier boot will never finish, and
 * a boot no snapshot names says nothing.
 */
export async function pruneMarks(marks: Marks, keep: Set<string>): Promise<void> {
  for (const { name, boot, at, done } of marks.all) {
    const older = at < (marks.latest.get(boot) ?? 0);
    const current = boot === bootId();
    if (older || (!current && (!done || !keep.has(boot)))) await rm(join(marks.dir, name), { force: true });
  }
}

/**
 * Make the pending mark `<boot>@<start>` in `dir` and start a detached `sync -f` of the filesystem
 * holding `root` that, when it has finished, touches that mark; the start is taken before the
 * sync begins, so it covers every commit before it. kiln does not wait for the sync: it outlives
 * the build by the time the kernel takes to write that filesystem's dirty data. Returns the sync's
 * process (for a test to see it end), or nothing when no mark could be made.
 */
export async function startSync(
  root: string,
  dir: string,
  /** The start the mark claims (a test's: no later than now). */
  now = monotonicMs(),
): Promise<ChildProcess | undefined> {
  const id = bootId();
  if (!id) return undefined;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // O_EXCL: a mark of its own, never one another build's sync may already have touched. A name
  // taken (another build in the same millisecond) is tried a millisecond earlier: a mark may
  // claim less than its sync covers, never more.
  for (let at = now; at > now - MARK_TRIES; at--) {
    const mark = join(dir, `${id}@${at}`);
    const fh = await open(mark, 'wx', 0o600).catch((e: unknown) => {
      if (isErrno(e, 'EEXIST')) return undefined;
      throw e;
    });
    if (!fh) continue;
    try {
      await fh.utimes(0, 0);
    } finally {
      await fh.close();
    }
    return spawnDetached('/bin/sh', ['-c', 'sync -f "$1" && touch -c -- "$2"', 'kiln-sync', root, mark]);
  }
  return undefined;
}

/** Names a build's mark may take, counting back from its start (see startSync). */
const MARK_TRIES = 16;
