/** Renders any error for a person: message, Dockerfile location with the offending lines, hint. */
import { readFileSync } from 'node:fs';
import { formatLocation, type KilnError } from '../errors/errors.ts';

export function printError(err: unknown, opts: { debug?: boolean } = {}): number {
  const e = err as Partial<KilnError> & Error;
  const lines: string[] = [];
  const loc = e.location;
  lines.push(`error: ${loc ? `${formatLocation(loc)}: ` : ''}${e.message ?? String(err)}`);
  if (loc) {
    try {
      const src = readFileSync(loc.file, 'utf8').split('\n');
      for (let n = loc.startLine; n <= Math.min(loc.endLine, loc.startLine + 9); n++) {
        if (src[n - 1] !== undefined) lines.push(`  ${String(n).padStart(4)} | ${src[n - 1]}`);
      }
    } catch {
      // The file may be stdin or gone; the location line above still says where.
    }
  }
  if (e.hint) lines.push(`hint: ${e.hint}`);
  if (opts.debug && e.stack) lines.push(e.stack);
  process.stderr.write(`${lines.join('\n')}\n`);
  return typeof e.exitCode === 'number' ? e.exitCode : 1;
}
