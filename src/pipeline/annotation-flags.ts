/**
 * Annotations as the user writes them: `--output …,annotation-index.KEY=V` keys (BuildKit's
 * exptypes.ParseAnnotationKey) and buildx's `--annotation [TYPE[PLATFORM],…:]KEY=VALUE` flag.
 * Without a type an annotation goes on the manifests, as in both.
 */
import { KilnError } from '../errors/errors.ts';
import { ANNOTATION_TYPES, type Annotation, type AnnotationType } from '../exporter/annotations.ts';
import { type Platform, parsePlatform } from '../oci/platform.ts';

const KEY_RE = /^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(\S+)$/;
const TYPE_RE = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/;

/** True for the keys BuildKit reads as annotations (the rest of the key is then checked). */
export function isAnnotationKey(key: string): boolean {
  return /^annotation[-.[]/.test(key);
}

function annotationType(type: string, where: string): AnnotationType {
  if ((ANNOTATION_TYPES as readonly string[]).includes(type)) return type as AnnotationType;
  throw new KilnError('INVALID_OUTPUT', `unknown annotation type "${type}" in ${where}`, {
    hint: `use one of: ${ANNOTATION_TYPES.join(', ')}`,
  });
}

function platformOf(text: string | undefined, where: string): Platform | undefined {
  if (!text) return undefined;
  try {
    return parsePlatform(text);
  } catch (err) {
    throw new KilnError('INVALID_OUTPUT', `invalid platform "${text}" in ${where}`, {
      hint: 'write it as os/arch[/variant], e.g. manifest[linux/amd64]:KEY=VALUE',
      cause: err,
    });
  }
}

/** `annotation[-TYPE][[PLATFORM]].KEY` from an --output list. */
export function parseAnnotationKey(key: string, value: string): Annotation {
  const m = KEY_RE.exec(key);
  if (!m) {
    throw new KilnError('INVALID_OUTPUT', `could not fully parse annotation ${key}`, {
      hint: 'write annotation.KEY=V, annotation-index.KEY=V or annotation-manifest[linux/amd64].KEY=V',
    });
  }
  const type = m[1] ? annotationType(m[1], key) : 'manifest';
  return { type, platform: platformOf(m[2], key), key: m[3], value };
}

/** One `--annotation` value: `KEY=VALUE`, or `TYPE[,TYPE…]:KEY=VALUE` with optional `[PLATFORM]`s. */
export function parseAnnotationFlag(text: string): Annotation[] {
  if (text === '') return [];
  const eq = text.indexOf('=');
  if (eq < 0) {
    throw new KilnError('INVALID_FLAG', `invalid annotation "${text}", expected key=value`, {
      hint: 'use --annotation KEY=VALUE or --annotation index:KEY=VALUE',
    });
  }
  const k = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const colon = k.indexOf(':');
  if (colon < 0) return [{ type: 'manifest', key: k, value }];
  const key = k.slice(colon + 1);
  return k
    .slice(0, colon)
    .split(',')
    .map((t) => {
      const m = TYPE_RE.exec(t);
      if (!m) {
        throw new KilnError(
          'INVALID_FLAG',
          `invalid annotation type "${t}" in --annotation ${text}, expected type and optional platform in square brackets`,
          { hint: `use one of: ${ANNOTATION_TYPES.join(', ')}, e.g. manifest[linux/arm64]:KEY=VALUE` },
        );
      }
      const where = `--annotation ${text}`;
      return { type: annotationType(m[1], where), platform: platformOf(m[2], where), key, value };
    });
}
