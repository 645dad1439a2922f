/** Test helpers: an in-memory image config resolver and graph queries by description. */
import type { Vertex } from '../../../graph/index.ts';
import type { ImageConfig } from '../../../oci/config.ts';
import type { Platform } from '../../../oci/platform.ts';
import { convertDockerfile } from './index.ts';
import type { ConvertOptions, ConvertResult, ImageConfigResolver } from './types.ts';

export const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
export const ARM64: Platform = { os: 'linux', architecture: 'arm64' };

export function imageConfig(
  overrides: Partial<ImageConfig> & { config?: ImageConfig['config'] } = {},
): ImageConfig {
  return {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] },
    history: [{ created_by: '/bin/sh -c #(nop) ADD file:base in /' }],
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    ...overrides,
  };
}

/** Resolves refs from a map (keys are normalized refs); unknown images get a default config. */
export class MemoryResolver implements ImageConfigResolver {
  readonly calls: { ref: string; platform: Platform }[] = [];
  private readonly images: Record<string, ImageConfig>;
  constructor(images: Record<string, ImageConfig> = {}) {
    this.images = images;
  }
  async resolveImageConfig(ref: string, platform: Platform): Promise<{ ref: string; config: ImageConfig }> {
    this.calls.push({ ref, platform });
    const config = this.images[ref] ?? {
      ...imageConfig(),
      architecture: platform.architecture,
      os: platform.os,
    };
    return { ref: `${ref}@sha256:${'b'.repeat(64)}`, config: structuredClone(config) };
  }
}

export function convert(source: string, opts: Partial<ConvertOptions> = {}): Promise<ConvertResult> {
  return convertDockerfile(source, {
    buildArgs: {},
    platform: AMD64,
    buildPlatform: AMD64,
    resolver: new MemoryResolver(),
    ...opts,
  });
}

/** Vertices whose description ends with `text` (e.g. `RUN make`); sources only when looking for FROM. */
export function byDescription(r: ConvertResult, text: string): Vertex[] {
  return r.definition.vertices.filter(
    (v) => v.meta.description?.endsWith(text) && (v.op.type !== 'source' || text.startsWith('FROM')),
  );
}

export function one(r: ConvertResult, text: string): Vertex {
  const found = byDescription(r, text);
  if (found.length !== 1) {
    throw new Error(
      `expected one vertex "${text}", found ${found.length}: ${r.definition.vertices.map((v) => v.meta.description).join(' | ')}`,
    );
  }
  return found[0];
}
