/**
 * What a kiln process killed mid-RUN leaves behind: the tmpfs holding its secrets (plaintext,
 * mounted until someone unmounts it), its ssh forwarding socket, its writable bind copies, cache
 * mounts it was discarding (`--no-cache`), and its runc bundle (with the container still running). Each lives in `<root>/run/` under a name
 * that carries its owner (pid and start time), so any later kiln command can tell a dead
 * owner's leftovers from a running build's and remove only those. With nothing left over the
 * check is one readdir each of two empty directories.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { unmount } from '../snapshot/mount.ts';
import { ownerDead } from '../sys/owner.ts';

/** The names makeOwnedDir (sys/owner.ts) gives: `<kind>-<pid>-<start>-<hex>`. */
const NAME = /^(secrets|ssh|bind|discard|chroot)-(\d+)-(\d*)-[0-9a-f]+$/;

export interface Leftovers {
  /** Paths of dead processes' leftovers that were removed. */
  removed: string[];
  /** Paths owned by running processes, left alone. */
  active: string[];
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // Absent (a root no RUN ever used) or unreadable: nothing of ours to clean there.
    return [];
  }
}

/** Mount points at or below `dir`, deepest first (from this mount namespace's mountinfo). */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const raw = line.split(' ')[4];
    if (!raw) continue;
    const mp = raw.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Remove every leftover of a dead kiln process under `root` (see the module comment). Safe to
 * run from several processes at once: each step tolerates another having done it.
 */
export async function sweepLeftovers(root: string): Promise<Leftovers> {
  const result: Leftovers = { removed: [], active: [] };
  const run = join(root, 'run');
  for (const name of list(run)) {
    const m = NAME.exec(name);
    // Only names we make are ours to judge; anything else is left for a person to look at.
    if (!m) continue;
    const path = join(run, name);
    if (!ownerDead({ pid: Number(m[2]), start: m[3] })) {
      result.active.push(path);
      continue;
    }
    for (const mp of mountsUnder(path)) await unmount(mp).catch(() => undefined);
    // Never delete through a mount that would not go: that would reach into whatever it shows.
    if (mountsUnder(path).length > 0) continue;
    await rm(path, { recursive: true, force: true });
    result.removed.push(path);
  }
  const bundles = join(root, 'bundles');
  const names = list(bundles);
  if (names.length > 0) {
    const dead: string[] = [];
    for (const id of names) {
      const owner = await readFile(join(bundles, id, 'owner.json'), 'utf8')
        .then((t) => JSON.parse(t) as { pid: number; start: string })
        .catch(() => undefined);
      if (owner && !ownerDead(owner)) result.active.push(join(bundles, id));
      else if (owner) dead.push(id);
    }
    if (dead.length > 0) {
      // runc kills the dead owner's container (still running: runc has no parent-death signal),
      // deletes it, unmounts its rootfs and removes the bundle.
      const { RuncExecutor } = await import('../executor/runc/runc.ts');
      await new RuncExecutor({ stateRoot: root }).cleanupStale();
      const left = new Set(list(bundles));
      for (const id of dead) if (!left.has(id)) result.removed.push(join(bundles, id));
    }
  }
  return result;
}
