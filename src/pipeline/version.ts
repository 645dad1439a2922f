/**
 * What `kiln version` and the Engine API's `/version` report: kiln's version and commit, Node's,
 * the platform, and the runc it runs RUN steps with.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostPlatform } from '../oci/platform.ts';
import { resolveRoot } from '../store/root.ts';
import { execFileAsync } from '../sys/exec.ts';

interface Component {
  Name: string;
  Version: string;
  Details: Record<string, string>;
}

export interface VersionInfo {
  Client: { Version: string; NodeVersion: string; GitCommit?: string; Os: string; Arch: string };
  Server: {
    Platform: { Name: string };
    Components: Component[];
    Version: string;
    NodeVersion: string;
    GitCommit?: string;
    Os: string;
    Arch: string;
  };
}

/** The checkout bin/kiln runs from (bin/kiln.cjs is argv[1]). */
function packageDir(): string {
  try {
    return dirname(dirname(realpathSync(process.argv[1] ?? '')));
  } catch {
    return process.cwd();
  }
}

async function gitCommit(dir: string): Promise<string | undefined> {
  try {
    return (
      (await execFileAsync('git', ['-C', dir, 'rev-parse', '--short=7', 'HEAD'])).stdout.trim() || undefined
    );
  } catch {
    return undefined;
  }
}

async function runcVersion(): Promise<Component | undefined> {
  try {
    const out = (await execFileAsync('runc', ['--version'])).stdout;
    const field = (k: string) => new RegExp(`^${k}:?\\s+(.+)$`, 'm').exec(out)?.[1]?.trim() ?? '';
    const details: Record<string, string> = { GitCommit: field('commit') };
    if (field('spec')) details.Spec = field('spec');
    if (field('libseccomp')) details.Libseccomp = field('libseccomp');
    return { Name: 'runc', Version: /runc version (\S+)/.exec(out)?.[1] ?? '', Details: details };
  } catch {
    return undefined;
  }
}

export async function versionInfo(rootOpt?: string): Promise<VersionInfo> {
  const dir = packageDir();
  let version = '';
  try {
    version =
      (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    // Not run from a checkout: no package.json beside bin/.
  }
  const [commit, runc] = await Promise.all([gitCommit(dir), runcVersion()]);
  const root = resolveRoot(rootOpt);
  let driver = 'not chosen yet (overlay when it mounts, else native)';
  try {
    driver = readFileSync(join(root, 'snapshots', 'driver'), 'utf8').trim();
  } catch {
    // No build has opened the snapshotter in this root yet.
  }
  const { os, architecture: arch } = hostPlatform();
  const engine: Component = {
    Name: 'Engine',
    Version: version,
    Details: {
      NodeVersion: process.version,
      ...(commit ? { GitCommit: commit } : {}),
      Os: os,
      Arch: arch,
      Root: root,
      Snapshotter: driver,
    },
  };
  return {
    Client: {
      Version: version,
      NodeVersion: process.version,
      ...(commit ? { GitCommit: commit } : {}),
      Os: os,
      Arch: arch,
    },
    Server: {
      Platform: { Name: 'kiln (no daemon: the engine runs in each command)' },
      Components: runc ? [engine, runc] : [engine],
      Version: version,
      NodeVersion: process.version,
      ...(commit ? { GitCommit: commit } : {}),
      Os: os,
      Arch: arch,
    },
  };
}
