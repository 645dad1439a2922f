/**
 * The /etc files a RUN sees but its layer never gets: hosts and resolv.conf, written to the
 * bundle directory and bind-mounted read-only over the rootfs. Like BuildKit, kiln gives no
 * /etc/hostname: the step sees the image's own, if it has one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExtraHost, NetworkMode } from '../executor.ts';

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
  await fs.writeFile(
    resolvConf,
    network === 'none' ? '# kiln: network none, no DNS\n' : await hostResolvConf(),
    { mode: 0o644 },
  );
  return { hosts, resolvConf };
}

/** The host's resolv.conf; with the host's network even a 127.0.0.53 stub resolver is reachable. */
async function hostResolvConf(): Promise<string> {
  try {
    return await fs.readFile('/etc/resolv.conf', 'utf8');
  } catch {
    return 'nameserver 8.8.8.8\nnameserver 1.1.1.1\n';
  }
}
