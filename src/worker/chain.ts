/** Layer chain ids (OCI image-spec): the identity of a stack of layers, used to name snapshots. */
import { type Digest, sha256 } from '../digest/digest.ts';

/** chainID(L0) = diffID(L0); chainID(L0..n) = sha256(chainID(L0..n-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
