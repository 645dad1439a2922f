import type { Command } from 'commander';
import { type VersionInfo, versionInfo } from '../../pipeline/version.ts';
import { tabwrite } from '../format/tabwriter.ts';
import { parseTemplate } from '../format/template.ts';

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
