/**
 * Working containers on disk: `<root>/containers/<id>.json` (replaced atomically), beside each a
 * directory with the container's own overlay upper and work dirs and the lock file. Names are
 * unique; a lookup takes a name, a full ID or a unique ID prefix.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Platform } from '../oci/platform.ts';
import { writeFileAtomic } from '../sys/atomic-write.ts';
import type { LayerRef } from '../worker/state.ts';

/** A layer this container committed: a snapshot of its own, parent of the next. */
export interface ContainerLayer {
  snapshot: string;
  created: string;
  /** Written into an image yet (false after a commit killed between the snapshot and the image). */
  imaged: boolean;
}

export interface ContainerRecord {
  version: 1;
  id: string;
  name: string;
  created: string;
  /** The image as the user named it, or 'scratch'. */
  fromImage: string;
  /** Its config digest (docker's image ID) and manifest digest; absent for scratch. */
  fromImageId?: string;
  fromImageDigest?: string;
  platform: Platform;
  /** The base image's layers (shared chain-id snapshots, their blobs). */
  base: LayerRef[];
  /** An empty committed snapshot of this container's over the base: keeps the chain from prune. */
  anchor: string;
  layers: ContainerLayer[];
  /** The config the next commit writes (base config plus `kiln config` edits, history so far). */
  config: ImageConfig;
  /** What was done since the last commit, for its history entry. */
  commands: string[];
  /** Manifest annotations for the next commit (`kiln config --annotation`). */
  annotations?: Record<string, string>;
  /** Set by `kiln config --created-by` / `--history-comment` for the next commit. */
  createdBy?: string;
  historyComment?: string;
  /** The content-store lease keeping the base image's blobs. */
  lease: string;
  /** Where `kiln mount` mounted the rootfs, while it is. */
  mountPoint?: string;
  /** A commit in flight: the snapshot it makes from the upper dir (see commit.ts). */
  pending?: { snapshot: string };
}

export const CONTAINER_ID = /^[0-9a-f]{64}$/;

export class ContainerRecords {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'containers');
  }

  file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** The container's own directory (upper, work, merged). */
  home(id: string): string {
    return join(this.dir, id);
  }

  lockFile(id: string): string {
    return join(this.dir, `${id}.lock`);
  }

  newId(): string {
    return randomBytes(32).toString('hex');
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async write(rec: ContainerRecord): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.file(rec.id), `${JSON.stringify(rec, null, 1)}\n`, { mode: 0o600 });
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return parseRecord(await readFile(this.file(id), 'utf8'), this.file(id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async list(): Promise<ContainerRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: ContainerRecord[] = [];
    for (const n of names.sort()) {
      const m = /^([0-9a-f]{64})\.json$/.exec(n);
      if (!m) continue;
      const rec = await this.read(m[1]);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** The container named `ref` (its name, ID, or a unique ID prefix). */
  async find(ref: string): Promise<ContainerRecord> {
    const all = await this.list();
    const byName = all.find((c) => c.name === ref || c.id === ref);
    if (byName) return byName;
    const prefixed = /^[0-9a-f]{3,63}$/.test(ref) ? all.filter((c) => c.id.startsWith(ref)) : [];
    if (prefixed.length === 1) return prefixed[0];
    throw new KilnError(
      prefixed.length > 1 ? 'CONTAINER_AMBIGUOUS' : 'CONTAINER_NOT_FOUND',
      prefixed.length > 1
        ? `container ID prefix "${ref}" matches ${prefixed.length} containers`
        : `no working container named "${ref}"`,
      { hint: 'list them with `kiln containers`' },
    );
  }

  /** `base`, or `base-N` with the smallest N not taken (buildah numbers them from 1). */
  async freeName(base: string): Promise<string> {
    const taken = new Set((await this.list()).map((c) => c.name));
    if (!taken.has(base)) return base;
    for (let n = 1; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
  }
}

function parseRecord(text: string, file: string): ContainerRecord {
  let rec: ContainerRecord;
  try {
    rec = JSON.parse(text) as ContainerRecord;
  } catch (cause) {
    throw new KilnError('CONTAINER_CORRUPT', `${file} is not valid JSON`, {
      cause,
      hint: 'remove the container with `kiln rm` (or the file by hand)',
    });
  }
  if (rec.version !== 1 || !CONTAINER_ID.test(rec.id) || typeof rec.name !== 'string') {
    throw new KilnError('CONTAINER_CORRUPT', `${file} is not a kiln working container record`, {
      hint: 'remove the file by hand',
    });
  }
  return rec;
}

/** buildah's default name: the image's last path component without tag or digest, + `-working-container`. */
export function defaultName(image: string): string {
  if (image === 'scratch') return 'working-container';
  const last = image.replace(/@.*$/, '').split('/').at(-1) ?? image;
  return `${last.replace(/:.*$/, '')}-working-container`;
}
