/**
 * Which processes may have left a snapshot store unfinished. A snapshotter names itself in
 * `<root>/writers/` (`<pid>-<start>-<hex>`) before its first change to the store — a record, a
 * snapshot's directory — and takes its name away at release once nothing it made is left
 * active. Opening a store passes over every record (base.ts cleanupStale) only when something
 * can be left to clean: a name here whose process is gone, or no pass yet in this boot (the
 * snapshots an earlier boot left unsynced, durability.ts). Otherwise the open reads this one
 * directory: a fully cached build no longer lists a store of hundreds of snapshots.
 *
 * Nothing here is synced: a crash that loses a name is a reboot, and a new boot passes anyway.
 */
import { closeSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors/errors.ts';
import { ownedName, ownerDead, ownerOfName } from '../sys/owner.ts';
import { bootId } from './durability.ts';

const BOOT = /^boot-([0-9a-f-]+)$/;

/** What an open finds: whether a pass is due, and the gone writers it would cover. */
export interface Survey {
  due: boolean;
  /** Names of writers whose processes are gone. */
  dead: string[];
}

export class Writers {
  readonly dir: string;
  private own?: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Name this snapshotter as one that changes the store; once, before its first change. */
  enter(): void {
    if (this.own) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, ownedName());
    closeSync(openSync(file, 'wx', 0o600));
    this.own = file;
  }

  /** Take the name away: nothing this snapshotter made is left unfinished. */
  leave(): void {
    if (!this.own) return;
    rmSync(this.own, { force: true });
    this.own = undefined;
  }

  survey(): Survey {
    const boot = bootId();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      names = [];
    }
    let passed = false;
    const dead: string[] = [];
    for (const name of names) {
      const writer = ownerOfName(name);
      if (writer) {
        if (ownerDead(writer)) dead.push(name);
        continue;
      }
      if (BOOT.exec(name)?.[1] === boot) passed = true;
    }
    // Without a boot id (no /proc) no pass can be known to have run in this boot.
    return { due: boot === '' || !passed || dead.length > 0, dead };
  }

  /**
   * After a full pass: the gone writers it covered lose their names, and this boot is marked as
   * passed (an earlier boot's mark goes).
   */
  passed(covered: readonly string[]): void {
    for (const name of covered) rmSync(join(this.dir, name), { force: true });
    const boot = bootId();
    if (boot === '') return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const mark = `boot-${boot}`;
    closeSync(openSync(join(this.dir, mark), 'a', 0o600));
    for (const name of readdirSync(this.dir)) {
      if (BOOT.test(name) && name !== mark) rmSync(join(this.dir, name), { force: true });
    }
  }
}
