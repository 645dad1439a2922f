/**
 * Helpers for the working-container suites: a tree listing to compare two root filesystems
 * (type, mode, owner, size, content digest, link target; never times), and a listing of an
 * image's filesystem through `kiln build -o type=local` of `FROM image`.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CliRoot } from '../cli/helpers.ts';

export function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, p));
    let what = `${p} ${st.mode.toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(join(dir, p))}`;
    else if (st.isFile())
      what += ` ${st.size} ${createHash('sha256')
        .update(readFileSync(join(dir, p)))
        .digest('hex')
        .slice(0, 16)}`;
    out.push(what);
    if (st.isDirectory()) out.push(...listTree(dir, p));
  }
  return out;
}

/** The files of `image` as `kiln build` exports them. */
export async function imageFiles(r: CliRoot, image: string): Promise<string[]> {
  const ctx = await r.context({ Dockerfile: `FROM ${image}\n` });
  const dest = join(ctx, 'out');
  r.ok(['build', '-q', '-o', `type=local,dest=${dest}`, ctx]);
  return listTree(dest);
}

/** The image config's `config` of a local image. */
export function imageConfig(r: CliRoot, image: string): Record<string, unknown> {
  return JSON.parse(r.ok(['image', 'inspect', '--format', '{{json .Config}}', image]));
}
