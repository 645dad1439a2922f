/**
 * `kiln version`: client and engine sections laid out as `docker version` does (kiln has no
 * daemon, so the "server" is the engine in this process: its state root, snapshotter and runc),
 * with the version from package.json, Node's, the git commit of the checkout when there is one,
 * and OS/Arch; `--format json` or a Go template over the same data.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { hostPlatform } from '../../oci/platform.ts';
import { resolveRoot } from '../../store/root.ts';
import { execFileAsync } from '../../sys/exec.ts';
import { tabwrite } from '../format/tabwriter.ts';
import { parseTemplate } from '../format/template.ts';

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

/** docker version's layout, filled from `v`. */
export function renderVersion(v: VersionInfo): string {
  const c = v.Client;
  let out = `Client:\n Version:\t${c.Version}\n Node version:\t${c.NodeVersion}\n`;
  if (c.GitCommit) out += ` Git commit:\t${c.GitCommit}\n`;
  out += ` OS/Arch:\t${c.Os}/${c.Arch}\n\nServer: ${v.Server.Platform.Name}\n`;
  for (const comp of v.Server.Components) {
    out += ` ${comp.Name}:\n  Version:\t${comp.Version}\n`;
    if (comp.Name === 'Engine') {
      const d = comp.Details;
      out += `  Node version:\t${d.NodeVersion}\n`;
      if (d.GitCommit) out += `  Git commit:\t${d.GitCommit}\n`;
      out += `  OS/Arch:\t${d.Os}/${d.Arch}\n  Root:\t${d.Root}\n  Snapshotter:\t${d.Snapshotter}\n`;
    } else {
      for (const k of Object.keys(comp.Details).sort()) out += `  ${k}:\t${comp.Details[k]}\n`;
    }
  }
  // docker: tabwriter.NewWriter(out, 20, 1, 1, ' ', 0).
  return tabwrite(out, { minwidth: 20, tabwidth: 1, padding: 1, padchar: ' ' });
}

export function register(program: Command): void {
  program
    .command('version')
    .description('Show the kiln version information')
    .option('-f, --format <format>', "'json' or a Go template, e.g. '{{.Client.Version}}'")
    .action(async (opts, c: Command) => {
      const v = await versionInfo(c.optsWithGlobals().root as string | undefined);
      const format = opts.format as string | undefined;
      if (!format) {
        process.stdout.write(renderVersion(v));
        return;
      }
      const tmpl = parseTemplate(format === 'json' ? '{{json .}}' : format);
      process.stdout.write(
        tabwrite(`${tmpl.execute(v)}\n`, { minwidth: 20, tabwidth: 1, padding: 1, padchar: ' ' }),
      );
    });
}
