/**
 * `docker images --filter` over listed images: `reference=` (path.Match globs on the familiar
 * name with and without its tag; several are or'ed, and they also pick which names an image
 * shows), `before=`/`since=` (created before or after another image), `dangling=true|false`,
 * and `label=KEY[=VALUE]` (all must match).
 */
import { KilnError } from '../errors/errors.ts';
import { familiarName, parseReference } from '../reference/reference.ts';
import { findImage, type ImageSummary, type QueryStore, resolveImage } from './query.ts';

export interface ImageFilters {
  reference: string[];
  before: string[];
  since: string[];
  dangling?: boolean;
  label: string[];
}

const KEYS = ['reference', 'before', 'since', 'dangling', 'label'];

/** Parse `--filter KEY=VALUE` flags; an unknown key or a bad value is INVALID_FILTER. */
export function parseImageFilters(list: string[]): ImageFilters {
  const f: ImageFilters = { reference: [], before: [], since: [], label: [] };
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (eq < 0 || !KEYS.includes(key)) {
      throw new KilnError('INVALID_FILTER', `invalid filter '${item}'`, {
        hint: `use --filter KEY=VALUE with KEY one of ${KEYS.join(', ')}`,
      });
    }
    if (key === 'dangling') {
      if (!/^(true|false|1|0)$/i.test(value)) {
        throw new KilnError('INVALID_FILTER', `invalid filter 'dangling=${value}'`, {
          hint: 'use dangling=true or dangling=false',
        });
      }
      f.dangling = /^(true|1)$/i.test(value);
    } else (f[key as 'reference' | 'before' | 'since' | 'label'] as string[]).push(value);
  }
  return f;
}

/** Go's path.Match as a regular expression: `*` and `?` stop at `/`, `[...]` classes, `\` escapes. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0)
        throw new KilnError('INVALID_FILTER', `bad pattern "${pattern}"`, { hint: 'close the [ class ]' });
      let cls = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** reference.FamiliarMatch: the pattern against `name:tag`, then against `name` alone. */
function referenceMatches(patterns: RegExp[], name: string): boolean {
  const ref = parseReference(name);
  const withTag = familiarName(ref);
  const bare = familiarName({ domain: ref.domain, path: ref.path });
  return patterns.some((p) => p.test(withTag) || p.test(bare));
}

function labelsMatch(labels: Record<string, string>, filters: string[]): boolean {
  return filters.every((l) => {
    const eq = l.indexOf('=');
    return eq < 0 ? l in labels : labels[l.slice(0, eq)] === l.slice(eq + 1);
  });
}

async function createdOf(store: QueryStore, ref: string): Promise<number> {
  const rec = await findImage(store, ref);
  const r = await resolveImage(store.content, rec);
  return Date.parse(r.config.created ?? '') || 0;
}

/** The images (with only their matching names, for `reference=`) that pass every filter. */
export async function filterImages(
  store: QueryStore,
  images: ImageSummary[],
  f: ImageFilters,
): Promise<ImageSummary[]> {
  const patterns = f.reference.map(globToRegExp);
  const before = await Promise.all(f.before.map((r) => createdOf(store, r)));
  const since = await Promise.all(f.since.map((r) => createdOf(store, r)));
  const out: ImageSummary[] = [];
  for (const img of images) {
    const created = Date.parse(img.created ?? '') || 0;
    if (f.dangling !== undefined && f.dangling !== (img.names.length === 0)) continue;
    if (before.some((t) => !(created < t)) || since.some((t) => !(created > t))) continue;
    if (!labelsMatch(img.labels, f.label)) continue;
    if (patterns.length) {
      const names = img.names.filter((n) => referenceMatches(patterns, n));
      if (names.length === 0) continue;
      out.push({ ...img, names });
    } else out.push(img);
  }
  return out;
}
