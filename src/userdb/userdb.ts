/**
 * A rootfs's user and group databases (/etc/passwd, /etc/group), read through the confined
 * resolver with a size bound and parsed once, the way runc/moby's user lookup reads them. RUN's
 * user resolution and COPY --chown both use it.
 */
import { readFileInRoot } from '../confine/fd.ts';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** More than any real user database; a bigger one is hostile. */
const MAX_DB_BYTES = 16 << 20;

function lines(root: string, file: string): string[][] {
  const data = readFileInRoot(root, file, MAX_DB_BYTES);
  if (!data) return [];
  return data
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

const ID = /^\d+$/;

/** Entries of `<root>/etc/passwd` with numeric uid and gid (others are skipped, as runc does). */
export function readPasswd(root: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(root, '/etc/passwd')) {
    if (f.length < 4 || !ID.test(f[2]) || !ID.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

/** Entries of `<root>/etc/group` with a numeric gid. */
export function readGroup(root: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(root, '/etc/group')) {
    if (f.length < 3 || !ID.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}
