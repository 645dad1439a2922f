/**
 * The kiln YAML build description, as types and as the schema its files are checked against
 * (docs/kiln-yaml.schema.json is the same schema for editors). mockerfile's fields (`apiVersion`,
 * `images[].name/from/package/external`) plus kiln's: `args`, `env`, `labels`, `workdir`,
 * `copy`, `run`, `user`, `expose`, `entrypoint`, `cmd`, `platforms`.
 */
import { arr, either, int, obj, oneOf, record, type Schema, scalar, str } from '../../graph/schema.ts';

export type Scalar = string | number | boolean;

export interface External {
  src: string;
  dst: string;
  sha256?: string;
  install?: string[];
}

export interface CopySpec {
  src: string | string[];
  dst: string;
  from?: string;
  chown?: string;
  chmod?: string;
}

export interface ImageSpec {
  name: string;
  from: string;
  platforms?: string[];
  args?: Record<string, Scalar>;
  env?: Record<string, Scalar>;
  labels?: Record<string, Scalar>;
  workdir?: string;
  package?: { install?: string[] };
  external?: External[];
  copy?: CopySpec[];
  run?: string | string[];
  user?: string;
  expose?: (string | number)[];
  entrypoint?: string | string[];
  cmd?: string | string[];
}

export interface KilnYaml {
  apiVersion: 'v1alpha1';
  images: ImageSpec[];
}

/** Image names are stage names: lower case, as Dockerfile stage names are matched. */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Package names and version pins as apt, apk and dnf take them; nothing a shell would read. */
export const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._:=~<>-]*$/;

const text = str(1 << 20);
const command = either('a command (a string, or a list of strings)', text, arr(text, 4096, 1));
const path = str(4096);

const image = obj(
  {
    name: str(128, { pattern: IMAGE_NAME, what: 'an image name (lower case letters, digits, . _ -)' }),
    from: str(4096),
    platforms: arr(str(64), 32, 1),
    args: record(scalar(), 1024, /^[A-Za-z_][A-Za-z0-9_]*$/),
    env: record(scalar(), 1024, /^[^=\s]+$/),
    labels: record(scalar(), 1024),
    workdir: path,
    package: obj(
      {
        install: arr(
          str(256, { pattern: PACKAGE_NAME, what: 'a package name (letters, digits, + . _ : = ~ < > -)' }),
          4096,
        ),
      },
      ['install'],
    ),
    external: arr(
      obj(
        {
          src: str(8192, { pattern: /^https?:\/\/[^\s]+$/, what: 'an http(s) URL' }),
          dst: path,
          sha256: str(71, { pattern: /^(sha256:)?[0-9a-f]{64}$/, what: 'a sha256 (64 hex digits)' }),
          install: arr(text, 1024),
        },
        ['sha256', 'install'],
      ),
      256,
    ),
    copy: arr(
      obj(
        {
          src: either('a path or a list of paths', path, arr(path, 1024, 1)),
          dst: path,
          from: str(4096),
          chown: str(256),
          chmod: str(32),
        },
        ['from', 'chown', 'chmod'],
      ),
      1024,
    ),
    run: command,
    user: str(256),
    expose: arr(either('a port (80, "53/udp")', int(1, 65535), str(32)), 1024),
    entrypoint: command,
    cmd: command,
  },
  [
    'platforms',
    'args',
    'env',
    'labels',
    'workdir',
    'package',
    'external',
    'copy',
    'run',
    'user',
    'expose',
    'entrypoint',
    'cmd',
  ],
);

export const KILN_YAML_SCHEMA: Schema = obj({ apiVersion: oneOf('v1alpha1'), images: arr(image, 128, 1) });
