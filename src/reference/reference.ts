/**
 * Image references with docker's grammar (distribution/reference): `[domain/]path[:tag][@digest]`,
 * normalized the way docker does (`busybox` → `docker.io/library/busybox:latest`).
 */
import { type Digest, isDigest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';

export interface Reference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_MAX = 255;

// The grammar of distribution/reference/regexp.go.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+(?:%[A-Za-z0-9._-]+)?\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_SYNTAX = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

function invalid(text: string, why: string, hint: string): KilnError {
  return new KilnError('INVALID_REFERENCE', `invalid reference "${text}": ${why}`, { hint });
}

/** True when `domain` is a valid registry host[:port] (DNS name, IPv4 or bracketed IPv6). */
export function isValidDomain(domain: string): boolean {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const close = domain.indexOf(']');
    if (close < 0) return false;
    host = domain.slice(0, close + 1);
    const rest = domain.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return false;
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host)) return false;
  } else {
    const colon = domain.lastIndexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host === '' || !host.split('.').every((c) => DOMAIN_NAME_COMPONENT.test(c))) return false;
  }
  return port === undefined || PORT.test(port);
}

/** Split a name into domain and remainder as docker's `splitDockerDomain` does. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  const first = i < 0 ? '' : name.slice(0, i);
  if (
    i < 0 ||
    (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first && !first.startsWith('['))
  ) {
    return { domain: DEFAULT_DOMAIN, remainder: name };
  }
  return { domain: first, remainder: name.slice(i + 1) };
}

/**
 * Parse a reference as docker does. Defaults: domain docker.io (with `library/` for one-component
 * names there), tag `latest` when neither tag nor digest is given.
 * Throws INVALID_REFERENCE with the offending text and a hint.
 */
export function parseReference(text: string): Reference {
  const s = text.trim();
  if (s === '')
    throw invalid(
      text,
      'empty reference',
      'give an image name such as busybox or registry.example.com/team/app:1.0',
    );
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SYNTAX.test(d))
      throw invalid(
        text,
        `bad digest "${d}"`,
        'a digest is written @sha256: followed by 64 lowercase hex digits',
      );
    if (!isDigest(d)) {
      throw invalid(
        text,
        `unsupported or malformed digest "${d}"`,
        'kiln accepts sha256 (64 hex digits) and sha512 (128) digests in lowercase',
      );
    }
    digest = d;
  }
  let tag: string | undefined;
  // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(
        text,
        `bad tag "${tag}"`,
        'a tag is up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"',
      );
    }
  }
  if (rest === '') throw invalid(text, 'missing repository name', 'write the image name before ":" or "@"');
  let { domain, remainder } = splitDomain(rest);
  if (!isValidDomain(domain)) {
    throw invalid(
      text,
      `bad registry host "${domain}"`,
      'a registry is a host name, IPv4 address or [IPv6] address with an optional :port',
    );
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (remainder === '')
    throw invalid(
      text,
      'missing repository path after the registry host',
      'write e.g. localhost:5000/myimage',
    );
  if (/^[a-f0-9]{64}$/.test(remainder)) {
    throw invalid(
      text,
      'a 64-character hex string is an image ID, not a repository name',
      'refer to a local image by ID with a command that takes IDs, or write repo@sha256:<hex>',
    );
  }
  if (remainder !== remainder.toLowerCase()) {
    throw invalid(text, 'repository name must be lowercase', `use "${remainder.toLowerCase()}" instead`);
  }
  for (const component of remainder.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        text,
        component === '' ? 'empty path component' : `bad path component "${component}"`,
        'path components are lowercase letters and digits separated by ".", "_", "__" or "-", joined with "/"',
      );
    }
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  if (domain.length + 1 + remainder.length > NAME_TOTAL_MAX) {
    throw invalid(
      text,
      `repository name longer than ${NAME_TOTAL_MAX} characters`,
      'shorten the repository name',
    );
  }
  const ref: Reference = { domain, path: remainder };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** `domain/path` — the repository, without tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified text of a reference: `domain/path[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Parse and print fully qualified, e.g. `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}

/** The short form docker shows: `busybox:latest`, `foo/bar:1`, `localhost:5000/x:y`. */
export function familiarName(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name =
      ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split('/').length === 2
        ? ref.path.slice(OFFICIAL_REPO_PREFIX.length)
        : ref.path;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** A copy of `ref` pinned to `digest` (the tag is kept, as docker prints `name:tag@digest`). */
export function withDigest(ref: Reference, digest: Digest): Reference {
  return { ...ref, digest };
}

/** A copy of `ref` with `tag` and no digest. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG.test(tag))
    throw invalid(tag, `bad tag "${tag}"`, 'a tag is up to 128 letters, digits, "_", "." or "-"');
  return { domain: ref.domain, path: ref.path, tag };
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
