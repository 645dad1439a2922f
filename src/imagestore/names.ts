/**
 * How an image without a name is kept: docker's `<none>:<none>`. An untagged build, an unnamed
 * load or import, and an image whose last name moved to another image stay in the store under
 * a record named `<none>@<root digest>` — a name no reference can spell, so no user input reaches
 * it, and GC keeps the image like any named one until `kiln image prune` or `rmi` removes it.
 */
import type { Digest } from '../digest/digest.ts';

const DANGLING_PREFIX = '<none>@';

/** The record name of the unnamed image whose root is `digest`. */
export function danglingName(digest: Digest): string {
  return `${DANGLING_PREFIX}${digest}`;
}

/** True for the record of an unnamed image (never for a real reference). */
export function isDanglingName(name: string): boolean {
  return name.startsWith(DANGLING_PREFIX);
}
