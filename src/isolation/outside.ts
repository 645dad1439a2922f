/**
 * Rootless kiln first tries a build before entering its user namespace (cli/isolation.ts): a
 * fully cached build only reads kiln's databases and writes image records, all files the user
 * owns, so it needs nothing the namespace gives, and entering it (unshare, newuidmap, newgidmap
 * and a second Node) was most of such a build's time. Whatever would need the namespace — a step
 * that runs, a snapshot made, mounted or read, a base image pulled — throws this error instead,
 * before it changes anything, and the build runs again inside.
 */
import { KilnError } from '../errors/errors.ts';

export function namespaceNeeded(what: string): KilnError {
  return new KilnError('NAMESPACE_NEEDED', `${what} needs kiln's user namespace`, {
    hint: 'run the build inside it (kiln build does so by itself)',
  });
}
