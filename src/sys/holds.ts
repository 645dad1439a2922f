/**
 * Hold files: what the running operations of live processes use, so that removal in any process
 * skips it. Each operation appends the ids it holds to its own file in one directory, named for
 * the owning process (pid and start time): readers ignore, and delete, the files of processes that
 * are gone, so a crash never leaves anything held. An append is one write(2), seen at once by
 * every other process; nothing is synced, since a crash ends the holds anyway.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';
import { ownerDead, selfOwner } from './owner.ts';

const FILE_NAME = /^(\d+)-(\d*)-[\w-]+\.holds$/;
const SCOPE = /^[\w-]+$/;

interface Scope {
  fd: number;
  path: string;
  held: Set<string>;
}

export class HoldFiles {
  readonly dir: string;
  private readonly scopes = new Map<string, Scope>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Record that `scope` (one operation of this process, named by letters, digits, `_` and `-`)
   * holds `ids`. When this returns, a reader in any process sees the holds.
   */
  add(scope: string, ids: Iterable<string>): void {
    let s = this.scopes.get(scope);
    const fresh = [...new Set(ids)].filter((id) => !s?.held.has(id));
    if (fresh.length === 0) return;
    s ??= this.open(scope);
    append(s.fd, fresh.map((id) => `+${JSON.stringify(id)}\n`).join(''));
    for (const id of fresh) s.held.add(id);
  }

  /** Drop `scope`'s holds on `ids` (those it has). */
  drop(scope: string, ids: Iterable<string>): void {
    const s = this.scopes.get(scope);
    const held = s ? [...new Set(ids)].filter((id) => s.held.has(id)) : [];
    if (!s || held.length === 0) return;
    append(s.fd, held.map((id) => `-${JSON.stringify(id)}\n`).join(''));
    for (const id of held) s.held.delete(id);
  }

  /** End `scope`: its file goes, and every hold with it. */
  release(scope: string): void {
    const s = this.scopes.get(scope);
    if (!s) return;
    this.scopes.delete(scope);
    closeSync(s.fd);
    rmSync(s.path, { force: true });
  }

  /** Every id held by an operation of a live process, this one's included. */
  live(): Set<string> {
    const out = new Set<string>();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return out;
      throw err;
    }
    for (const name of names) {
      const m = FILE_NAME.exec(name);
      if (!m) continue;
      const path = join(this.dir, name);
      if (ownerDead({ pid: Number(m[1]), start: m[2] })) {
        rmSync(path, { force: true });
        continue;
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // released meanwhile
        throw err;
      }
      for (const id of parseHolds(text)) out.add(id);
    }
    return out;
  }

  private open(scope: string): Scope {
    if (!SCOPE.test(scope))
      throw new KilnError('HOLD_SCOPE_INVALID', `invalid hold scope ${JSON.stringify(scope)}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const me = selfOwner();
    const path = join(this.dir, `${me.pid}-${me.start}-${scope}.holds`);
    const s: Scope = { fd: openSync(path, 'a', 0o600), path, held: new Set() };
    this.scopes.set(scope, s);
    return s;
  }
}

/** The ids one hold file holds at its end; a last line still being written is not counted. */
export function parseHolds(text: string): Set<string> {
  const held = new Set<string>();
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) {
    let id: unknown;
    try {
      id = JSON.parse(line.slice(1));
    } catch {
      continue;
    }
    if (typeof id !== 'string') continue;
    if (line[0] === '+') held.add(id);
    else if (line[0] === '-') held.delete(id);
  }
  return held;
}

function append(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
}
