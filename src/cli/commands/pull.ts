/**
 * `kiln pull [--platform p] [--unpack] REF`: fetch an image from its registry into the local
 * store; with --unpack, also unpack its layers into the snapshots a build FROM it would make
 * first (as docker pull, buildah pull and containerd do), so the build does not. Also the helpers
 * the registry commands share (a client configured from --registry-config, progress).
 */
import type { Command } from 'commander';
import { hostPlatform, type Platform, parsePlatform } from '../../oci/platform.ts';
import type { ProgressSink } from '../../progress/events.ts';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { RegistryClient } from '../../registry/client.ts';
import { defaultRegistryConfigPath, loadRegistryConfig } from '../../registry/hosts.ts';
import { pullImage } from '../../registry/pull.ts';
import { resolveRoot } from '../../store/root.ts';
import { enterNamespace, needsNamespace, unpackIsolation } from '../isolation.ts';
import { commandSignal } from '../signals.ts';
import { withStore } from './images.ts';

/** A registry client using `--registry-config` (required to exist) or `$root/registries.toml`. */
export function registryClient(c: Command): RegistryClient {
  const opts = c.optsWithGlobals();
  const explicit = opts.registryConfig as string | undefined;
  const file = explicit ?? defaultRegistryConfigPath(resolveRoot(opts.root as string | undefined));
  return new RegistryClient({
    config: loadRegistryConfig(file, explicit !== undefined),
    signal: commandSignal(),
  });
}

export function addRegistryConfigOption(cmd: Command): Command {
  return cmd.option(
    '--registry-config <file>',
    'registry hosts config (TOML; default $KILN_ROOT/registries.toml)',
  );
}

/** One line per blob when it finishes (stderr), docker-style; silent with --quiet. */
export function blobProgress(verb: string, quiet: boolean): ProgressSink {
  return (e) => {
    if (quiet || e.type !== 'status' || !e.done) return;
    const what = e.name.startsWith('mounted') ? e.name : `${verb} (${e.current} bytes)`;
    process.stderr.write(`${e.id.slice(7, 19)}: ${what}\n`);
  };
}

export function register(program: Command): void {
  addRegistryConfigOption(
    program
      .command('pull')
      .description('Pull an image from a registry into the local store')
      .argument('<ref>', 'image reference, e.g. busybox or registry.example.com/app:1.0')
      .option(
        '--platform <platform>',
        'platform to pick from a multi-platform image (os/arch[/variant]), or "all"',
      )
      .option('-q, --quiet', 'print only the image name')
      .option(
        '--unpack',
        "also unpack the layers (for --platform all, the host platform's) into the snapshots a build FROM it uses, as docker pull does; otherwise the first build unpacks them",
      ),
  ).action(async (refText: string, opts, c: Command) => {
    // Snapshots of a rootless kiln are made inside its user namespace, as a build makes them.
    if (opts.unpack && needsNamespace()) return enterNamespace();
    const ref = parseReference(refText);
    const platform: Platform | 'all' | undefined =
      opts.platform === 'all' ? 'all' : opts.platform ? parsePlatform(opts.platform) : undefined;
    const client = registryClient(c);
    if (!opts.quiet)
      process.stderr.write(
        `${ref.tag ?? ref.digest}: Pulling from ${familiarName({ domain: ref.domain, path: ref.path })}\n`,
      );
    // The isolation a build here would use decides the snapshot store; checked before the pull.
    const mode = opts.unpack ? unpackIsolation() : undefined;
    const result = await withStore(c, (store) =>
      store.withLease(async (content) => {
        const pulled = await pullImage(ref, {
          client,
          platform,
          content,
          images: store.images,
          onProgress: blobProgress('Pull complete', Boolean(opts.quiet)),
        });
        if (mode) {
          const { unpackStored } = await import('../../pipeline/bases.ts');
          const pinned = `${ref.domain}/${ref.path}@${pulled.descriptor.digest}`;
          const unpackFor = platform && platform !== 'all' ? platform : hostPlatform();
          const layers = await unpackStored(store, pinned, unpackFor, mode);
          if (!opts.quiet) process.stderr.write(`Unpacked ${layers} layer${layers === 1 ? '' : 's'}\n`);
        }
        return pulled;
      }),
    );
    if (!opts.quiet) {
      process.stderr.write(`Digest: ${result.index?.digest ?? result.descriptor.digest}\n`);
      process.stderr.write(
        `Status: ${result.copy.copied > 1 ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(ref)}\n`,
      );
    }
    process.stdout.write(`${result.name ?? `${ref.domain}/${ref.path}@${result.descriptor.digest}`}\n`);
  });
}
