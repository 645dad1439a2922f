/**
 * Which process owns something on disk: its pid plus its start time (from /proc), so a pid the
 * kernel has since given to another process does not count as the owner still running.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface Owner {
  pid: number;
  /** Start time in clock ticks since boot; '' when /proc could not tell. */
  start: string;
}

let self: Owner | undefined;

/** This process's identity for owner records (read once: neither part changes while it runs). */
export function selfOwner(): Owner {
  self ??= { pid: process.pid, start: processStart(process.pid) ?? '' };
  return self;
}

/** True when the process that owns a record is gone. */
export function ownerDead(owner: Owner): boolean {
  const start = processStart(owner.pid);
  return start === undefined || start !== owner.start;
}

/** A fresh name carrying this process as its owner: `<pid>-<start>-<hex>`. */
export function ownedName(): string {
  const me = selfOwner();
  return `${me.pid}-${me.start}-${randomBytes(8).toString('hex')}`;
}

/** The owner an ownedName() carries; undefined for any other name. */
export function ownerOfName(name: string): Owner | undefined {
  const m = /^(\d+)-(\d*)-[0-9a-f]+$/.exec(name);
  return m ? { pid: Number(m[1]), start: m[2] } : undefined;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; starttime is field 22 overall.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Kinds of per-process scratch kept under `<root>/run/`. */
export type ScratchKind = 'secrets' | 'ssh' | 'bind' | 'discard' | 'chroot';

/**
 * A new private directory for this process's scratch of one kind:
 * `<root>/run/<kind>-<pid>-<start>-<hex>`; the name carries the owner, so store/leftovers.ts can
 * remove a dead owner's scratch and leave a running one's alone.
 */
export async function makeOwnedDir(root: string, kind: ScratchKind): Promise<string> {
  const run = join(root, 'run');
  await mkdir(run, { recursive: true, mode: 0o700 });
  const dir = join(run, `${kind}-${ownedName()}`);
  await mkdir(dir, { mode: 0o700 });
  return dir;
}
