/**
 * `kiln config`: buildah's config options applied to a working container's image config. A
 * `KEY-` (env, label, annotation, port, volume) removes the entry, as buildah does; `--cmd` and
 * `--shell` take a JSON array or shell words, `--entrypoint` a JSON array or a shell command.
 */
import { KilnError } from '../errors/errors.ts';
import { parseGoDuration } from '../frontend/dockerfile/instructions/healthcheck.ts';
import type { ContainerConfig, HealthConfig, ImageConfig } from '../oci/config.ts';

export interface ConfigChanges {
  env?: string[];
  cmd?: string;
  entrypoint?: string;
  labels?: string[];
  annotations?: string[];
  workingDir?: string;
  user?: string;
  ports?: string[];
  volumes?: string[];
  author?: string;
  createdBy?: string;
  stopSignal?: string;
  healthcheck?: string;
  healthcheckInterval?: string;
  healthcheckRetries?: string;
  healthcheckStartPeriod?: string;
  healthcheckStartInterval?: string;
  healthcheckTimeout?: string;
  shell?: string;
  onbuild?: string[];
  historyComment?: string;
  os?: string;
  arch?: string;
  variant?: string;
}

/** The parts of a container record `kiln config` changes. */
export interface Configurable {
  config: ImageConfig;
  annotations?: Record<string, string>;
  createdBy?: string;
  historyComment?: string;
}

function invalid(option: string, value: string, hint: string): KilnError {
  return new KilnError('CONFIG_INVALID', `invalid --${option} value ${JSON.stringify(value)}`, { hint });
}

/** Split like go-shellwords: blanks separate words; quotes and backslashes group them. */
export function shellWords(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]))
        word += text[++i];
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw invalid('cmd', text, 'close the quote');
  if (inWord) out.push(word);
  return out;
}

function jsonArray(text: string): string[] | undefined {
  try {
    const v = JSON.parse(text);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `KEY=VALUE` sets, `KEY-` removes (buildah's syntax for env, labels and annotations). */
function applyPairs(
  current: Record<string, string>,
  items: string[],
  option: string,
  allowBare = false,
): Record<string, string> {
  const out = { ...current };
  for (const item of items) {
    if (item.endsWith('-') && !item.includes('=')) {
      delete out[item.slice(0, -1)];
      continue;
    }
    const eq = item.indexOf('=');
    if (eq === 0 || (eq < 0 && !allowBare))
      throw invalid(option, item, `write KEY=VALUE, or KEY- to remove it`);
    if (eq < 0) out[item] = process.env[item] ?? '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function applySet(
  current: Record<string, unknown> | undefined,
  items: string[],
  norm: (s: string) => string,
) {
  const out: Record<string, Record<string, never>> = {
    ...(current as Record<string, Record<string, never>>),
  };
  for (const item of items) {
    if (item.endsWith('-')) delete out[norm(item.slice(0, -1))];
    else out[norm(item)] = {};
  }
  return Object.keys(out).length ? out : undefined;
}

function portKey(p: string): string {
  if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p))
    throw invalid('port', p, 'write PORT or PORT/PROTOCOL, e.g. 8080/tcp');
  return p.includes('/') ? p : `${p}/tcp`;
}

function duration(option: string, text: string): number {
  try {
    return parseGoDuration(text);
  } catch {
    throw invalid(option, text, 'write a Go duration such as 30s or 1m30s');
  }
}

function healthcheck(current: HealthConfig | undefined, c: ConfigChanges): HealthConfig | undefined {
  let h: HealthConfig = { ...current };
  if (c.healthcheck !== undefined) {
    const text = c.healthcheck.trim();
    if (text === '' || text.toUpperCase() === 'NONE') h = text === '' ? {} : { ...h, Test: ['NONE'] };
    else {
      const [kind, ...rest] = text.split(/\s+/);
      const args = rest.join(' ');
      if (kind.toUpperCase() === 'CMD-SHELL') h.Test = ['CMD-SHELL', args];
      else if (kind.toUpperCase() === 'CMD') h.Test = ['CMD', ...(jsonArray(args) ?? shellWords(args))];
      else
        throw invalid(
          'healthcheck',
          c.healthcheck,
          'write "CMD command args", "CMD-SHELL command" or "NONE"',
        );
    }
  }
  if (c.healthcheckInterval !== undefined)
    h.Interval = duration('healthcheck-interval', c.healthcheckInterval);
  if (c.healthcheckTimeout !== undefined) h.Timeout = duration('healthcheck-timeout', c.healthcheckTimeout);
  if (c.healthcheckStartPeriod !== undefined)
    h.StartPeriod = duration('healthcheck-start-period', c.healthcheckStartPeriod);
  if (c.healthcheckStartInterval !== undefined)
    h.StartInterval = duration('healthcheck-start-interval', c.healthcheckStartInterval);
  if (c.healthcheckRetries !== undefined) {
    const n = Number(c.healthcheckRetries);
    if (!Number.isInteger(n) || n < 0)
      throw invalid('healthcheck-retries', c.healthcheckRetries, 'write a count');
    h.Retries = n;
  }
  return Object.keys(h).length ? h : undefined;
}

/** A new configurable with `changes` applied (the input is not modified). */
export function applyConfig<T extends Configurable>(target: T, c: ConfigChanges): T {
  const config: ImageConfig = structuredClone(target.config);
  const cc: ContainerConfig = { ...config.config };
  if (c.env?.length) {
    const env: Record<string, string> = {};
    for (const e of cc.Env ?? []) {
      const i = e.indexOf('=');
      env[i < 0 ? e : e.slice(0, i)] = i < 0 ? '' : e.slice(i + 1);
    }
    cc.Env = Object.entries(applyPairs(env, c.env, 'env', true)).map(([k, v]) => `${k}=${v}`);
  }
  if (c.cmd !== undefined) cc.Cmd = c.cmd === '' ? null : (jsonArray(c.cmd) ?? shellWords(c.cmd));
  if (c.entrypoint !== undefined) {
    cc.Entrypoint = c.entrypoint === '' ? null : (jsonArray(c.entrypoint) ?? ['/bin/sh', '-c', c.entrypoint]);
  }
  if (c.labels?.length) {
    const labels = applyPairs(cc.Labels ?? {}, c.labels, 'label');
    cc.Labels = Object.keys(labels).length ? labels : undefined;
  }
  if (c.workingDir !== undefined) cc.WorkingDir = c.workingDir || undefined;
  if (c.user !== undefined) cc.User = c.user || undefined;
  if (c.ports?.length) cc.ExposedPorts = applySet(cc.ExposedPorts, c.ports, portKey);
  if (c.volumes?.length) cc.Volumes = applySet(cc.Volumes, c.volumes, (v) => v);
  if (c.stopSignal !== undefined) cc.StopSignal = c.stopSignal || undefined;
  if (c.shell !== undefined)
    cc.Shell = c.shell === '' ? undefined : (jsonArray(c.shell) ?? shellWords(c.shell));
  if (c.onbuild?.length) cc.OnBuild = [...(cc.OnBuild ?? []), ...c.onbuild];
  const hc = healthcheck(cc.Healthcheck, c);
  if (hc) cc.Healthcheck = hc;
  else delete cc.Healthcheck;
  for (const k of Object.keys(cc) as (keyof ContainerConfig)[]) if (cc[k] === undefined) delete cc[k];
  config.config = cc;
  if (c.author !== undefined) config.author = c.author || undefined;
  if (c.os !== undefined) config.os = c.os;
  if (c.arch !== undefined) config.architecture = c.arch;
  if (c.variant !== undefined) config.variant = c.variant || undefined;
  const out: T = { ...target, config };
  if (c.annotations?.length)
    out.annotations = applyPairs(target.annotations ?? {}, c.annotations, 'annotation');
  if (c.createdBy !== undefined) out.createdBy = c.createdBy;
  if (c.historyComment !== undefined) out.historyComment = c.historyComment;
  return out;
}
