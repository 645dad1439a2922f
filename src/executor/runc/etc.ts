/**
 * The /etc files a RUN sees but its layer never gets: hosts and resolv.conf, written to the
 * bundle directory and bind-mounted read-only over the rootfs. Like BuildKit, kiln gives no
 * /etc/hostname: the step sees the image's own, if it has one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExtraHost, NetworkMode } from '../executor.ts';
import { SLIRP_DNS } from './network.ts';

/** The hostname RUN steps get unless told otherwise, as in BuildKit. */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

export async function writeEtcFiles(
  dir: string,
  hostname: string,
  network: NetworkMode,
  extraHosts: ExtraHost[] = [],
): Promise<{ hosts: string; resolvConf: string }> {
  const hosts = path.join(dir, 'hosts');
  const resolvConf = path.join(dir, 'resolv.conf');
  // BuildKit's executor/oci/hosts.go, line for line.
  const lines = [`127.0.0.1\tlocalhost ${hostname}`, '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const h of extraHosts) lines.push(`${h.ip}\t${h.host}`);
  await fs.writeFile(hosts, `${lines.join('\n')}\n`, { mode: 0o644 });
  const resolv =
    network === 'none'
      ? '# kiln: network none, no DNS\n'
      : network === 'host'
        ? await readResolvConf('/etc/resolv.conf')
        : await namespacedResolvConf();
  await fs.writeFile(resolvConf, resolv ?? FALLBACK_RESOLV_CONF, { mode: 0o644 });
  return { hosts, resolvConf };
}

const FALLBACK_RESOLV_CONF = 'nameserver 8.8.8.8\nnameserver 1.1.1.1\n';

async function readResolvConf(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

/**
 * resolv.conf for the default network's own namespace: the host's, without the nameservers the
 * step cannot reach there — loopback ones (a 127.0.0.53 stub resolver) and IPv6 ones (slirp4netns
 * gives IPv4 only). With none left (systemd-resolved), the resolver's upstream list as BuildKit
 * reads it, else slirp4netns's DNS forwarder, which asks the host's resolvers as the host would.
 */
export async function namespacedResolvConf(
  files: string[] = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'],
): Promise<string> {
  let rest: string[] = [];
  for (const file of files) {
    const text = await readResolvConf(file);
    if (text === undefined) continue;
    const lines = text.split('\n');
    const servers = lines
      .filter((l) => /^\s*nameserver\s/.test(l))
      .filter((l) => usable(l.trim().split(/\s+/)[1]));
    const other = lines.filter((l) => /^\s*(search|domain|options)\s/.test(l));
    if (file === files[0]) rest = other;
    if (servers.length > 0) return `${[...servers, ...rest].join('\n')}\n`;
  }
  return `${[`nameserver ${SLIRP_DNS}`, ...rest].join('\n')}\n`;
}

function usable(addr: string | undefined): boolean {
  return !!addr && /^\d+\.\d+\.\d+\.\d+$/.test(addr) && !addr.startsWith('127.') && !addr.startsWith('0.');
}
