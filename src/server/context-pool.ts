/**
 * Directories kiln serve keeps between builds for uploaded contexts. `docker build` uploads the
 * whole context every time; extracting 20,000 files into a new directory (and deleting it after)
 * cost more than the build itself when nothing had changed. A context uploaded again under the
 * same key (its tags and Dockerfile name) is synced into the directory its last upload left
 * (contextFromTar's `into`): unchanged files are compared, not rewritten, and what the new tar
 * does not hold is removed, so the build sees exactly what was sent.
 *
 * The directories are under kiln's root (its tmp/), on the snapshots' filesystem: COPY hard-links
 * their files into the layer it makes, so a file is never changed in place here (the sync
 * replaces a file that is shared; applyLayer's sync mode).
 *
 * A directory is leased to one request at a time: a request whose key's directory is busy gets a
 * fresh temp directory instead. Directories are private (0700, under one 0700 directory per
 * server process), at most MAX_DIRS are kept (the least recently used goes), and one whose sync
 * failed (a hostile or cut-off tar) is discarded rather than reused.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { removeInBackground } from '../context/tarcontext.ts';

/** Context directories kept per server process. */
const MAX_DIRS = 8;

interface Slot {
  dir: string;
  busy: boolean;
  used: number;
}

export interface Lease {
  /** The directory to sync into, or undefined: use a fresh temp directory. */
  dir?: string;
  /** Give the directory back; `ok` false discards it (its sync failed). */
  done(ok: boolean): void;
}

let base: string | undefined;
let made = 0;
const slots = new Map<string, Slot>();

function baseDir(parent: string): string {
  if (!base) {
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    base = mkdtempSync(join(parent, 'serve-contexts-'));
    const b = base;
    process.once('exit', () => removeInBackground(b));
  }
  return base;
}

function drop(key: string, slot: Slot): void {
  if (slots.get(key) === slot) slots.delete(key);
  removeInBackground(slot.dir);
}

/** Lease the kept directory for `key` (made if there is none) under `parent` (kiln's root/tmp). */
export function leaseContextDir(key: string, parent: string): Lease {
  const have = slots.get(key);
  if (have?.busy) return { done: () => {} };
  let slot = have;
  if (!slot) {
    const dir = join(baseDir(parent), String(++made));
    mkdirSync(dir, { mode: 0o700 });
    slot = { dir, busy: false, used: 0 };
    slots.set(key, slot);
    // Over the bound: the least recently used idle directories go.
    const idle = [...slots].filter(([, s]) => !s.busy && s !== slot).sort((a, b) => a[1].used - b[1].used);
    while (slots.size > MAX_DIRS && idle.length > 0) {
      const [k, s] = idle.shift() as [string, Slot];
      drop(k, s);
    }
  }
  const s = slot;
  s.busy = true;
  let returned = false;
  return {
    dir: s.dir,
    done: (ok) => {
      if (returned) return;
      returned = true;
      s.busy = false;
      s.used = Date.now();
      if (!ok) drop(key, s);
    },
  };
}
