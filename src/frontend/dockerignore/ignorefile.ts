/**
 * Reading .dockerignore files (moby/patternmatcher/ignorefile.ReadAll) and choosing which one
 * applies: `<Dockerfile>.dockerignore` next to the Dockerfile wins over the context's own.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readFileInRoot } from '../../confine/fd.ts';
import { decodeName } from '../../sys/fsname.ts';
import { goClean, goTrimSpace } from './filepath.ts';

/**
 * Parse .dockerignore text into patterns: BOM stripped, `#` comment lines skipped (only when `#`
 * is the first character), whitespace trimmed, paths cleaned, one leading `/` removed, `!` kept.
 * Bytes that are not UTF-8 stay bytes (escaped as in sys/fsname.ts), so they match such names.
 */
export function readDockerignore(text: string | Uint8Array | null | undefined): string[] {
  if (text === null || text === undefined) return [];
  let s = typeof text === 'string' ? text : decodeName(text);
  if (s.startsWith('\uFEFF')) s = s.slice(1);
  const lines = s.split('\n');
  // bufio.ScanLines: a final empty line after the last \n is not a line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.startsWith('#')) continue;
    let pattern = goTrimSpace(line);
    if (pattern === '') continue;
    const invert = pattern[0] === '!';
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

export interface SelectedDockerignore {
  /** Absolute path of the file used, or undefined when there is none. */
  path?: string;
  patterns: string[];
  /** Bytes read from it. */
  bytes?: number;
}

/**
 * The ignore file BuildKit's Dockerfile frontend uses: `<dockerfile>.dockerignore` beside the
 * Dockerfile if it exists, else `<contextDir>/.dockerignore`, else none.
 */
/** A .dockerignore larger than this is refused (BuildKit reads it whole too). */
const MAX_DOCKERIGNORE_BYTES = 10 << 20;

export function selectDockerignore(contextDir: string, dockerfilePath?: string): SelectedDockerignore {
  const candidates: string[] = [];
  if (dockerfilePath)
    candidates.push(join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`));
  for (const c of candidates) {
    // Only a file counts: BuildKit builds on past a .dockerignore that is a directory (read, it
    // failed here with a bare EISDIR).
    if (statSync(c, { throwIfNoEntry: false })?.isFile()) {
      const data = readFileSync(c);
      return { path: c, patterns: readDockerignore(data), bytes: data.length };
    }
  }
  // The context's own file is the context's: read inside it (a symlink never leads out, a FIFO
  // or device is not read), as BuildKit reads it from the context.
  const own = readFileInRoot(contextDir, '.dockerignore', MAX_DOCKERIGNORE_BYTES);
  if (own)
    return { path: join(contextDir, '.dockerignore'), patterns: readDockerignore(own), bytes: own.length };
  return { patterns: [] };
}
