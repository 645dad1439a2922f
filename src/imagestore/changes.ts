/**
 * `--change` instructions for `kiln image import` (as `docker import --change`): CMD, ENTRYPOINT,
 * ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL applied to a container config. A small
 * parser of its own: quotes and backslashes as Dockerfiles treat them, no variable expansion.
 */
import { KilnError } from '../errors/errors.ts';
import type { ContainerConfig } from '../oci/config.ts';

const SUPPORTED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'USER', 'WORKDIR', 'LABEL', 'VOLUME', 'STOPSIGNAL'];

function bad(change: string, why: string): KilnError {
  return new KilnError('INVALID_CHANGE', `invalid --change "${change}": ${why}`, {
    hint: `supported instructions: ${SUPPORTED.join(', ')}; e.g. --change 'CMD ["/bin/sh"]'`,
  });
}

/** Split on whitespace, honouring "double" and 'single' quotes and backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new KilnError('INVALID_CHANGE', `unterminated ${quote} quote in "${text}"`);
  if (inWord) words.push(cur);
  return words;
}

/** key=value pairs (`ENV a=1 b="x y"`) or the legacy `KEY value with spaces` form. */
function keyValues(change: string, args: string): [string, string][] {
  const words = splitWords(args);
  if (words.length === 0) throw bad(change, 'needs at least one key');
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(args.trim());
    if (!m) throw bad(change, 'needs a value');
    return [[m[1], splitWords(m[2]).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(change, `"${w}" is not key=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** JSON array form `["a","b"]` when it parses as one, else the shell form wrapped in /bin/sh -c. */
function commandForm(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch {
      // Not JSON: Docker falls back to the shell form too.
    }
  }
  return ['/bin/sh', '-c', t];
}

/** Apply one change line to `cfg` (returns a new config). */
export function applyChange(cfg: ContainerConfig, change: string): ContainerConfig {
  const m = /^\s*(\w+)\s*([\s\S]*)$/.exec(change);
  if (!m) throw bad(change, 'empty');
  const instr = m[1].toUpperCase();
  const args = m[2].trim();
  const out: ContainerConfig = { ...cfg };
  switch (instr) {
    case 'CMD':
      out.Cmd = commandForm(args);
      break;
    case 'ENTRYPOINT':
      out.Entrypoint = commandForm(args);
      break;
    case 'ENV': {
      const env = [...(cfg.Env ?? [])];
      for (const [k, v] of keyValues(change, args)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      out.Env = env;
      break;
    }
    case 'LABEL': {
      const labels = { ...(cfg.Labels ?? {}) };
      for (const [k, v] of keyValues(change, args)) labels[k] = v;
      out.Labels = labels;
      break;
    }
    case 'EXPOSE': {
      const ports = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of splitWords(args)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p))
          throw bad(change, `"${p}" is not a port such as 80 or 53/udp`);
        ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
      }
      out.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      const vols = { ...(cfg.Volumes ?? {}) };
      const t = args.trim();
      let list: string[];
      try {
        list = t.startsWith('[') ? (JSON.parse(t) as string[]) : splitWords(t);
      } catch {
        list = splitWords(t);
      }
      if (!list.length) throw bad(change, 'needs a path');
      for (const v of list) vols[v] = {};
      out.Volumes = vols;
      break;
    }
    case 'USER':
    case 'WORKDIR':
    case 'STOPSIGNAL': {
      const words = splitWords(args);
      if (words.length !== 1) throw bad(change, `${instr} takes exactly one argument`);
      if (instr === 'USER') out.User = words[0];
      else if (instr === 'WORKDIR') out.WorkingDir = words[0].startsWith('/') ? words[0] : `/${words[0]}`;
      else out.StopSignal = words[0];
      break;
    }
    default:
      throw bad(change, `${instr} cannot be applied to an imported image`);
  }
  return out;
}

export function applyChanges(cfg: ContainerConfig, changes: string[]): ContainerConfig {
  return changes.reduce(applyChange, cfg);
}
