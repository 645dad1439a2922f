/**
 * `kiln image inspect`: docker's JSON (an array, indented), `--format json` (one line), or a
 * template run on each image with docker's `missingkey=error`. Images that exist are printed
 * even when another name is not found; the command then fails naming it.
 */
import type { Command } from 'commander';
import {
  ATTESTATION_MANIFEST,
  PREDICATE_TYPE_ANNOTATION,
  REFERENCE_DIGEST_ANNOTATION,
  REFERENCE_TYPE_ANNOTATION,
} from '../../attest/intoto.ts';
import type { BlobProvider } from '../../content/content.ts';
import { hasCode } from '../../errors/errors.ts';
import { loadIndex, loadManifest } from '../../image/load.ts';
import { imageNotFound } from '../../imagestore/imagestore.ts';
import { type ImageInspect, inspectImage } from '../../imagestore/query.ts';
import type { Descriptor } from '../../oci/descriptor.ts';
import { isIndexType } from '../../oci/mediatypes.ts';
import { parsePlatform } from '../../oci/platform.ts';
import { parseTemplate } from '../format/template.ts';
import { withStore } from './images.ts';

export function configureInspect(cmd: Command): Command {
  return cmd
    .description('Display detailed information on one or more images')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --format <format>', "'json' or a Go template, e.g. '{{.Config.Env}}'")
    .option('--platform <platform>', 'which manifest of a multi-platform image to show')
    .action(async (names: string[], opts, c: Command) => {
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      const format = opts.format as string | undefined;
      const tmpl = format && format !== 'json' ? parseTemplate(format) : undefined;
      const missing: string[] = [];
      const found = await withStore(c, async (store) => {
        const res: (ImageInspect & { Attestations?: unknown[] })[] = [];
        for (const n of names) {
          try {
            const i = await inspectImage(store, n, platform);
            const attestations = await attached(store.content, i.Descriptor);
            res.push(attestations.length ? { ...i, Attestations: attestations } : i);
          } catch (err) {
            if (!hasCode(err, 'IMAGE_NOT_FOUND')) throw err;
            missing.push(n);
          }
        }
        return res;
      });
      if (tmpl) for (const i of found) process.stdout.write(`${tmpl.execute(i, {}, true)}\n`);
      else if (format === 'json') process.stdout.write(`${JSON.stringify(found)}\n`);
      else process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      if (missing.length) throw imageNotFound(missing.join('", "'));
    });
}

/** The attestations attached to an image index (BuildKit's attestation manifests), one per statement. */
async function attached(content: BlobProvider, root: Descriptor) {
  if (!isIndexType(root.mediaType)) return [];
  const out: { Type: string; PredicateType: string; Digest: string; Subject: string }[] = [];
  for (const m of (await loadIndex(content, root)).manifests) {
    if (m.annotations?.[REFERENCE_TYPE_ANNOTATION] !== ATTESTATION_MANIFEST) continue;
    for (const l of (await loadManifest(content, m)).layers) {
      const predicate = l.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? '';
      const type = predicate.startsWith('https://spdx.dev/')
        ? 'sbom'
        : predicate.includes('slsa.dev/provenance')
          ? 'provenance'
          : 'other';
      out.push({
        Type: type,
        PredicateType: predicate,
        Digest: l.digest,
        Subject: m.annotations[REFERENCE_DIGEST_ANNOTATION] ?? '',
      });
    }
  }
  return out;
}
