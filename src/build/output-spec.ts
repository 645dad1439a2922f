/**
 * Parsing `--output` the way buildx does: `type=oci,dest=out.tar,compression=zstd`, a bare path
 * (local output), `-` (tar to stdout), plus `--push`/`--load` shorthands and `-t` names.
 */
import { KilnError } from '../errors/errors.ts';
import type { Compression } from '../oci/mediatypes.ts';
import type { OutputSpec, OutputType } from './options.ts';

const TYPES: OutputType[] = ['image', 'registry', 'oci', 'docker', 'local', 'tar'];

function bool(key: string, v: string): boolean {
  if (v === 'true' || v === '1' || v === '') return true;
  if (v === 'false' || v === '0') return false;
  throw new KilnError('INVALID_OUTPUT', `invalid value "${v}" for output option ${key}`, {
    hint: 'use true or false',
  });
}

/** Split `a=b,c="d,e"` as buildx's CSV reader does (quotes protect commas). */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new KilnError('INVALID_OUTPUT', `unterminated quote in "${text}"`);
  out.push(cur);
  return out.filter((s) => s !== '');
}

export function parseOutput(text: string, tags: string[] = []): OutputSpec {
  if (!text.includes('=')) {
    // buildx: a bare value is a local directory, `-` a tar stream on stdout.
    return baseSpec(text === '-' ? 'tar' : 'local', { dest: text });
  }
  const fields: Record<string, string> = {};
  for (const part of splitCsv(text)) {
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    fields[k] = eq < 0 ? '' : part.slice(eq + 1);
  }
  const type = (fields.type ?? '') as OutputType;
  if (!TYPES.includes(type)) {
    throw new KilnError('INVALID_OUTPUT', `unknown output type "${fields.type ?? ''}" in --output ${text}`, {
      hint: `use one of: ${TYPES.join(', ')}`,
    });
  }
  const spec = baseSpec(type, { dest: fields.dest });
  for (const [k, v] of Object.entries(fields)) {
    switch (k) {
      case 'type':
      case 'dest':
        break;
      case 'name':
        spec.names.push(...v.split(',').filter(Boolean));
        break;
      case 'push':
        spec.push = bool(k, v);
        break;
      case 'compression':
        if (v !== 'gzip' && v !== 'zstd' && v !== 'uncompressed') {
          throw new KilnError('INVALID_OUTPUT', `unknown compression "${v}"`, {
            hint: 'use gzip, zstd or uncompressed',
          });
        }
        spec.compression = v as Compression;
        break;
      case 'compression-level':
        spec.compressionLevel = Number.parseInt(v, 10);
        break;
      case 'oci-mediatypes':
        spec.ociMediaTypes = bool(k, v);
        break;
      case 'tar':
        spec.tar = bool(k, v);
        break;
      default:
        spec.attrs[k] = v;
    }
  }
  if (spec.type === 'registry') spec.push = true;
  if (
    spec.names.length === 0 &&
    (spec.type === 'image' || spec.type === 'registry' || spec.type === 'docker' || spec.type === 'oci')
  ) {
    spec.names.push(...tags);
  }
  if (
    (spec.type === 'local' || spec.type === 'oci' || spec.type === 'docker' || spec.type === 'tar') &&
    !spec.dest
  ) {
    if (spec.type === 'docker')
      spec.type = 'image'; // buildx: type=docker without dest loads into the image store
    else
      throw new KilnError('INVALID_OUTPUT', `output type=${spec.type} needs dest=PATH`, {
        hint: `e.g. --output type=${spec.type},dest=out`,
      });
  }
  if (spec.push && spec.names.length === 0) {
    throw new KilnError('INVALID_OUTPUT', 'pushing needs an image name', {
      hint: 'add -t registry/name:tag or name=... to --output',
    });
  }
  return spec;
}

function baseSpec(type: OutputType, opts: { dest?: string }): OutputSpec {
  return {
    type,
    names: [],
    dest: opts.dest,
    push: false,
    // buildx's default: OCI media types for oci output, Docker's for the rest.
    ociMediaTypes: type === 'oci',
    tar: true,
    attrs: {},
  };
}

/** The layer compression an output gets: its own setting, else the default for its type. */
export function outputCompression(spec: OutputSpec): Compression {
  return spec.compression ?? (spec.type === 'image' && !spec.push ? 'uncompressed' : 'gzip');
}

/** The outputs of a build from its flags: --output…, --push, --load, -t. Default: the image store. */
export function resolveOutputs(
  outputs: string[],
  tags: string[],
  push: boolean,
  load: boolean,
): OutputSpec[] {
  const specs = outputs.map((o) => parseOutput(o, tags));
  if (push) specs.push({ ...parseOutput('type=image', tags), push: true });
  if (load) specs.push({ ...parseOutput('type=image', tags), load: true });
  if (specs.length === 0) specs.push(parseOutput('type=image', tags));
  if (specs.some((s) => s.push && s.names.length === 0)) {
    throw new KilnError('INVALID_OUTPUT', '--push needs an image name', { hint: 'add -t registry/name:tag' });
  }
  return specs;
}
