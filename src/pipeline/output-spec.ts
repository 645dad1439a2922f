/**
 * Parsing `--output` the way buildx does: `type=oci,dest=out.tar,compression=zstd`, a bare path
 * (local output), `-` (tar to stdout), plus `--push`/`--load` shorthands and `-t` names. Each
 * type takes the keys its BuildKit exporter takes; any other key is an error, and so is a key
 * BuildKit honours that kiln cannot.
 */
import { KilnError } from '../errors/errors.ts';
import type { Compression } from '../oci/mediatypes.ts';
import { splitCsv as splitFields } from '../sys/csv.ts';
import { isAnnotationKey, parseAnnotationFlag, parseAnnotationKey } from './annotation-flags.ts';
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
  return splitFields(text, () => new KilnError('INVALID_OUTPUT', `unterminated quote in "${text}"`));
}

/**
 * Keys BuildKit's exporters accept that kiln does not act on. A boolean one is accepted with the
 * value that asks for what kiln does anyway (`store=true`), and refused with any other; the rest
 * are refused whatever their value. Either way nothing passes unnoticed.
 */
const FIXED: Record<string, { value?: boolean; why: string }> = {
  'push-by-digest': { value: false, why: 'kiln pushes by name only' },
  'registry.insecure': {
    value: false,
    why: 'registries are made plain-HTTP or insecure in $KILN_ROOT/registries.toml ([registry."host:port"] http = true or insecure = true)',
  },
  'name-canonical': { value: false, why: 'kiln names images by the names given only' },
  unpack: { value: false, why: 'kiln keeps no containerd snapshots of stored images' },
  store: { value: true, why: "an image output always stores the image in kiln's store" },
  'oci-artifact': { value: false, why: 'kiln writes no attestations to attach as artifacts' },
  'rewrite-timestamp': { value: false, why: 'kiln does not rewrite file times inside layers' },
  buildinfo: { value: false, why: 'kiln writes no build info (BuildKit deprecated it)' },
  'buildinfo-attrs': { value: false, why: 'kiln writes no build info (BuildKit deprecated it)' },
  'attestation-inline': { value: false, why: 'kiln makes no attestations' },
  'prefer-nondist-layers': { value: false, why: 'kiln writes only distributable layers' },
  'dangling-name-prefix': { why: 'an unnamed image stays in the store as <none>:<none>' },
  'compression-level': { why: 'kiln compresses at one level per algorithm, so layer digests stay stable' },
  'source-date-epoch': { why: 'pass SOURCE_DATE_EPOCH as a build arg (or in the environment) instead' },
  'platform-split': {
    why: 'type=local and type=tar split by platform exactly when several platforms are built',
  },
};

/** What BuildKit's image and OCI/docker archive exporters both accept, in their order. */
const IMAGE_EXPORTER_KEYS = [
  'oci-artifact',
  'rewrite-timestamp',
  'buildinfo',
  'buildinfo-attrs',
  'attestation-inline',
  'prefer-nondist-layers',
  'compression-level',
  'source-date-epoch',
];

/** The keys each output type accepts, as BuildKit's exporters do (annotation keys apart). */
const IMAGE_KEYS = [
  'name',
  'push',
  'compression',
  'force-compression',
  'oci-mediatypes',
  'push-by-digest',
  'registry.insecure',
  'dangling-name-prefix',
  'name-canonical',
  'unpack',
  'store',
  ...IMAGE_EXPORTER_KEYS,
];
const ARCHIVE_KEYS = [
  'dest',
  'tar',
  'name',
  'compression',
  'force-compression',
  'oci-mediatypes',
  ...IMAGE_EXPORTER_KEYS,
];
const FILES_KEYS = ['dest', 'platform-split', 'source-date-epoch'];
const KEYS: Record<OutputType, string[]> = {
  image: IMAGE_KEYS,
  registry: IMAGE_KEYS,
  oci: ARCHIVE_KEYS,
  docker: ARCHIVE_KEYS,
  local: FILES_KEYS,
  tar: FILES_KEYS,
};

const takesAnnotations = (t: OutputType) => t !== 'local' && t !== 'tar';

function unknownKey(type: OutputType, key: string): KilnError {
  const keys = ['type', ...KEYS[type], ...(takesAnnotations(type) ? ['annotation*.KEY'] : [])];
  return new KilnError('INVALID_OUTPUT', `unknown output option "${key}" for type=${type}`, {
    hint: `type=${type} accepts: ${keys.join(', ')}`,
  });
}

function unsupported(type: OutputType, key: string, value: string, why: string): KilnError {
  return new KilnError(
    'OUTPUT_UNSUPPORTED',
    `output option ${key}=${value} (type=${type}) is accepted by BuildKit but not supported by kiln: ${why}`,
    { hint: `drop ${key} from --output` },
  );
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
    if (k === 'type') continue;
    if (isAnnotationKey(k)) {
      if (!takesAnnotations(type)) throw unknownKey(type, k);
      spec.annotations.push(parseAnnotationKey(k, v));
      continue;
    }
    if (!KEYS[type].includes(k)) throw unknownKey(type, k);
    switch (k) {
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
      case 'force-compression':
        // kiln compresses every layer of an exported image itself, base layers included: that
        // is force-compression=true, and a valid result of =false too.
        bool(k, v);
        break;
      case 'oci-mediatypes':
        spec.ociMediaTypes = bool(k, v);
        break;
      case 'tar':
        spec.tar = bool(k, v);
        if (!spec.tar && type === 'docker') {
          throw unsupported(
            type,
            k,
            v,
            'a docker output is always an archive (type=oci,tar=false writes a layout)',
          );
        }
        break;
      default: {
        const fixed = FIXED[k];
        if (fixed.value === undefined || bool(k, v) !== fixed.value) throw unsupported(type, k, v, fixed.why);
      }
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
    annotations: [],
  };
}

/**
 * The outputs of a build from its flags: --output…, --push, --load, -t, --annotation (added to
 * every output that writes an image, as buildx does). Default: the image store.
 */
export function resolveOutputs(
  outputs: string[],
  tags: string[],
  push: boolean,
  load: boolean,
  annotations: string[] = [],
): OutputSpec[] {
  const specs = outputs.map((o) => parseOutput(o, tags));
  if (push) specs.push({ ...parseOutput('type=image', tags), push: true });
  if (load) specs.push({ ...parseOutput('type=image', tags), load: true });
  if (specs.length === 0) specs.push(parseOutput('type=image', tags));
  const flagged = annotations.flatMap(parseAnnotationFlag);
  for (const s of specs) if (takesAnnotations(s.type)) s.annotations.push(...flagged);
  if (specs.some((s) => s.push && s.names.length === 0)) {
    throw new KilnError('INVALID_OUTPUT', '--push needs an image name', { hint: 'add -t registry/name:tag' });
  }
  return specs;
}
