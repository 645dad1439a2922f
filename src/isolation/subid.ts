/**
 * /etc/subuid and /etc/subgid (shadow-utils' format, `name-or-id:start:count` a line): the first
 * range that belongs to a user, by name or by numeric id, as newuidmap checks it.
 */
import { readFileSync } from 'node:fs';

export interface SubIdRange {
  start: number;
  count: number;
}

/** Bounded: these files are the administrator's, but a huge one must not stall a build. */
const MAX_BYTES = 1 << 20;

function namesOf(uid: number): Set<string> {
  const names = new Set([String(uid)]);
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(uid) && f[0]) names.add(f[0]);
    }
  } catch {
    // No /etc/passwd: only the numeric id can match.
  }
  return names;
}

/** The first range of `file` (subuid or subgid: both are keyed by the user) for the user `uid`. */
export function findSubIds(file: string, uid: number): SubIdRange | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').slice(0, MAX_BYTES);
  } catch {
    return undefined;
  }
  return parseSubIds(text, namesOf(uid));
}

export function parseSubIds(text: string, names: Set<string>): SubIdRange | undefined {
  for (const line of text.split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if (!name || !names.has(name)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s >= 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}
