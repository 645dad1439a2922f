/**
 * Registry throughput (issue 20): push and pull of a 5-layer image (each layer a tar of one file,
 * half text-like compressible data, half random; ~600 MB uncompressed, gzip level 6) to and from
 * a local registry (src/testing/registry.ts: Debian's docker-registry on 127.0.0.1), by kiln
 * (`kiln push`, `kiln pull` into a fresh root), `skopeo copy` (OCI layout ↔ docker://) and
 * `docker push`/`docker pull` (the machine's dockerd); MB/s over the compressed bytes, and CPU
 * seconds (GNU time; for docker, dockerd's CPU over the same interval, since the CLI only asks),
 * and the registry's CPU seconds over each transfer: it shares the cores, so the two ends' CPU
 * spread over every core is a floor on the wall time.
 * Then a multi-platform (amd64 + arm64) pull: `kiln pull --platform all` against `skopeo copy --all`.
 *
 *   node bench/registry.ts [--repeat 3] [--layer-mib 120] [--tools kiln,skopeo,docker]
 *
 * --keep leaves the layout and kiln's source root (for profiling `kiln push`).
 * Every push goes to a fresh registry, so no blob is already there; every pull goes into a fresh
 * kiln root / OCI directory, and Docker's copy of the image is removed first.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { startRegistry, type TestRegistry } from '../src/testing/registry.ts';
import { DOCKER, KILN } from '../test/fidelity/builders.ts';
import {
  ensureTime,
  load,
  median,
  printTable,
  range,
  type Timing,
  timed,
  untimed,
  writeResults,
} from './measure.ts';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    'layer-mib': { type: 'string', default: '120' },
    tools: { type: 'string', default: 'kiln,skopeo,docker' },
    'no-multi': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const repeat = Math.max(1, Number.parseInt(values.repeat, 10) || 1);
const layerMiB = Number.parseInt(values['layer-mib'], 10) || 120;
const tools = values.tools.split(',');
ensureTime();

const work = mkdtempSync('/var/tmp/kiln-regbench-');
const layout = join(work, 'layout');

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

function writeBlob(data: Buffer | string, mediaType: string): Descriptor {
  const buf = Buffer.from(data);
  const hex = createHash('sha256').update(buf).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', hex), buf);
  return { mediaType, digest: `sha256:${hex}`, size: buf.length };
}

const WORDS =
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(
    ' ',
  );

/** `size` bytes of text-like data (compresses about 3–4× with gzip, like source or logs). */
function textChunk(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  let off = 0;
  while (off < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = `${WORDS[x % WORDS.length]}${x % 11 === 0 ? `${x % 9973}\n` : ' '}`;
    off += out.write(w, off);
  }
  return out;
}

/** A gzip layer: a tar of one file, its first half text-like, its second half random. */
async function writeLayer(seed: number, size: number): Promise<{ desc: Descriptor; diffId: string }> {
  const tmp = join(layout, 'blobs', 'sha256', `tmp-${seed}`);
  const gz = createGzip({ level: 6 });
  const compressed = createHash('sha256');
  const raw = createHash('sha256');
  let csize = 0;
  const file = createWriteStream(tmp);
  gz.on('data', (c: Buffer) => {
    compressed.update(c);
    csize += c.length;
  });
  gz.pipe(file);
  const put = async (b: Buffer) => {
    raw.update(b);
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  };
  const header = Buffer.alloc(512);
  header.write(`layer${seed}.bin`, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  await put(header);
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  const CH = 1 << 20;
  for (let off = 0; off < size; off += CH) {
    const n = Math.min(CH, size - off);
    await put(off < size / 2 ? textChunk(seed * 100_000 + off / CH, n) : cipher.update(Buffer.alloc(n)));
  }
  await put(Buffer.alloc(((512 - (size % 512)) % 512) + 1024));
  gz.end();
  await new Promise<void>((r) => file.on('close', () => r()));
  const hex = compressed.digest('hex');
  renameSync(tmp, join(layout, 'blobs', 'sha256', hex));
  return {
    desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size: csize },
    diffId: `sha256:${raw.digest('hex')}`,
  };
}

async function writeImage(seeds: number[], size: number, arch: string): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const s of seeds) {
    const l = await writeLayer(s, size);
    layers.push(l.desc);
    diffIds.push(l.diffId);
  }
  const config = writeBlob(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Cmd: ['/layer1.bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: seeds.map(() => ({ created_by: 'bench/registry.ts' })),
    }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = writeBlob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers,
    }),
    'application/vnd.oci.image.manifest.v1+json',
  );
  return { ...manifest, platform: { architecture: arch, os: 'linux' } };
}

mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
const t0 = Date.now();
const big = await writeImage([1, 2, 3, 4, 5], layerMiB << 20, 'amd64');
const index: Descriptor[] = [
  { ...big, platform: undefined, annotations: { 'org.opencontainers.image.ref.name': 'big' } },
];
let multiBytes = 0;
if (!values['no-multi']) {
  // arm64: five layers of its own, a quarter the size; the index names both platforms.
  const arm = await writeImage([11, 12, 13, 14, 15], (layerMiB << 20) / 4, 'arm64');
  const idx = writeBlob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [big, arm],
    }),
    'application/vnd.oci.image.index.v1+json',
  );
  index.push({ ...idx, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
}
writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: index }));
const du = (p: string) => Number(spawnSync('du', ['-sb', p], { encoding: 'utf8' }).stdout.split('\t')[0]);
const imageBytes = (d: Descriptor) => {
  const m = JSON.parse(
    spawnSync('cat', [join(layout, 'blobs', 'sha256', d.digest.slice(7))], { encoding: 'utf8' }).stdout,
  ) as { layers: Descriptor[]; config: Descriptor };
  return m.layers.reduce((a, l) => a + l.size, m.config.size);
};
const bigBytes = imageBytes(big);
console.log(
  `image: 5 layers, ${((5 * (layerMiB << 20)) / 1e6).toFixed(0)} MB uncompressed, ${(bigBytes / 1e6).toFixed(0)} MB gzip; layout ${(du(layout) / 1e6).toFixed(0)} MB written in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
if (!values['no-multi']) {
  const m = JSON.parse(
    spawnSync('cat', [join(layout, 'blobs', 'sha256', index[1].digest.slice(7))], { encoding: 'utf8' })
      .stdout,
  ) as { manifests: Descriptor[] };
  multiBytes = m.manifests.reduce((a, d) => a + imageBytes(d), 0);
}

interface Row {
  op: string;
  tool: string;
  bytes: number;
  runs: Timing[];
  load: string[];
  error?: string;
}
const rows: Row[] = [];
function row(op: string, tool: string, bytes: number): Row {
  const r: Row = { op, tool, bytes, runs: [], load: [] };
  rows.push(r);
  return r;
}
async function attempt(r: Row, f: () => Promise<Timing>): Promise<void> {
  if (r.error) return;
  try {
    r.load.push(load());
    r.runs.push(await f());
    const t = r.runs.at(-1) as Timing;
    console.log(
      `  ${r.op} ${r.tool.padEnd(6)} ${t.seconds.toFixed(2)} s, ${(r.bytes / 1e6 / t.seconds).toFixed(0)} MB/s, cpu ${(t.cpu + (t.dockerdCpu ?? 0)).toFixed(2)} s, registry cpu ${(t.registryCpu ?? 0).toFixed(2)} s, rss ${t.peakRssMiB.toFixed(0)} MiB (load ${r.load.at(-1)})`,
    );
  } catch (err) {
    r.error = (err as Error).message;
    console.log(`  ${r.op} ${r.tool} error: ${r.error.split('\n').slice(0, 4).join(' | ')}`);
  }
}

// Sources the push phase reads from: kiln's store and Docker's, loaded once (untimed).
const kilnSrc = join(work, 'kiln-src');
if (tools.includes('kiln')) {
  // A layout with only the big image (its blobs hard-linked), loaded, then tagged by its ID.
  const only = join(work, 'layout-big');
  mkdirSync(only);
  untimed('cp', ['-al', join(layout, 'blobs'), join(only, 'blobs')]);
  writeFileSync(join(only, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(only, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [index[0]] }));
  untimed(KILN, ['--root', kilnSrc, 'image', 'load', '-q', '-i', only]);
  const id = untimed(KILN, ['--root', kilnSrc, 'images']).split('\n')[1]?.split(/\s+/)[2];
  untimed(KILN, ['--root', kilnSrc, 'tag', id ?? '', 'bench-big:src']);
}
const dockerSrc = 'kiln-regbench-big:src';
if (tools.includes('docker'))
  untimed('skopeo', ['copy', '-q', `oci:${layout}:big`, `docker-daemon:${dockerSrc}`]);

const push = Object.fromEntries(tools.map((t) => [t, row('push', t, bigBytes)]));
for (let i = 0; i < repeat; i++) {
  // Rotate the order each round, so that drift on the shared machine falls on every tool alike.
  const order = tools.map((_, j) => tools[(i + j) % tools.length]);
  for (const tool of order) {
    const reg: TestRegistry = await startRegistry();
    const dest = `${reg.host}/bench/big:${tool}`;
    try {
      if (tool === 'kiln')
        await attempt(push.kiln, () =>
          timed(KILN, ['--root', kilnSrc, 'push', '-q', 'bench-big:src', dest], { registryPid: reg.pid() }),
        );
      if (tool === 'skopeo')
        await attempt(push.skopeo, () =>
          timed(
            'skopeo',
            ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${dest}`],
            {
              registryPid: reg.pid(),
            },
          ),
        );
      if (tool === 'docker') {
        untimed(DOCKER, ['tag', dockerSrc, dest]);
        await attempt(push.docker, () =>
          timed(DOCKER, ['push', '-q', dest], { watchDockerd: true, registryPid: reg.pid() }),
        );
        spawnSync(DOCKER, ['rmi', dest], { stdio: 'ignore' });
      }
    } finally {
      await reg.stop();
    }
  }
}
if (tools.includes('docker')) spawnSync(DOCKER, ['rmi', '-f', dockerSrc], { stdio: 'ignore' });

// Pull: one registry holding the image (pushed by skopeo, untimed).
const reg = await startRegistry();
untimed('skopeo', [
  'copy',
  '-q',
  '--all',
  '--dest-tls-verify=false',
  `oci:${layout}:big`,
  `docker://${reg.host}/bench/big:1`,
]);
if (!values['no-multi'])
  untimed('skopeo', [
    'copy',
    '-q',
    '--all',
    '--dest-tls-verify=false',
    `oci:${layout}:multi`,
    `docker://${reg.host}/bench/multi:1`,
  ]);
const src = `${reg.host}/bench/big:1`;
const pull = Object.fromEntries(tools.map((t) => [t, row('pull', t, bigBytes)]));
const multi = values['no-multi']
  ? {}
  : Object.fromEntries(
      tools.filter((t) => t !== 'docker').map((t) => [t, row('pull amd64+arm64', t, multiBytes)]),
    );
for (let i = 0; i < repeat; i++) {
  const order = tools.map((_, j) => tools[(i + j) % tools.length]);
  for (const tool of order) {
    const fresh = mkdtempSync(join(work, `pull-${tool}-`));
    try {
      if (tool === 'kiln') {
        await attempt(pull.kiln, () =>
          timed(KILN, ['--root', fresh, 'pull', '-q', src], { registryPid: reg.pid() }),
        );
        if (multi.kiln) {
          rmSync(fresh, { recursive: true, force: true });
          await attempt(multi.kiln, () =>
            timed(KILN, ['--root', fresh, 'pull', '-q', '--platform', 'all', `${reg.host}/bench/multi:1`], {
              registryPid: reg.pid(),
            }),
          );
        }
      }
      if (tool === 'skopeo') {
        await attempt(pull.skopeo, () =>
          timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${src}`, `oci:${fresh}/a:big`], {
            registryPid: reg.pid(),
          }),
        );
        if (multi.skopeo)
          await attempt(multi.skopeo, () =>
            timed(
              'skopeo',
              [
                'copy',
                '-q',
                '--all',
                '--src-tls-verify=false',
                `docker://${reg.host}/bench/multi:1`,
                `oci:${fresh}/m:multi`,
              ],
              { registryPid: reg.pid() },
            ),
          );
      }
      if (tool === 'docker') {
        spawnSync(DOCKER, ['rmi', '-f', src], { stdio: 'ignore' });
        await attempt(pull.docker, () =>
          timed(DOCKER, ['pull', '-q', src], { watchDockerd: true, registryPid: reg.pid() }),
        );
        spawnSync(DOCKER, ['rmi', '-f', src], { stdio: 'ignore' });
      }
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  }
}
await reg.stop();

// --- report ---
// The registry runs on the same cores: a transfer cannot take less wall time than the CPU both
// ends spent, spread over every core (`floor`), whatever the client does.
const cores = cpus().length;
const table: string[][] = [
  [
    'op',
    'tool',
    'MB',
    'seconds',
    'MB/s',
    'vs skopeo',
    'CPU s',
    'registry CPU s',
    'CPU floor s',
    'peak RSS MiB',
  ],
];
for (const r of rows) {
  if (!r.runs.length) {
    table.push([
      r.op,
      r.tool,
      (r.bytes / 1e6).toFixed(0),
      r.error ? `error: ${r.error.split('\n')[0]}` : 'n/a',
    ]);
    continue;
  }
  const mbps = r.runs.map((t) => r.bytes / 1e6 / t.seconds);
  const sk = rows.find((x) => x.op === r.op && x.tool === 'skopeo' && x.runs.length);
  const skMed = sk ? median(sk.runs.map((t) => r.bytes / 1e6 / t.seconds)) : undefined;
  const cpu = r.runs.map((t) => t.cpu + (t.dockerdCpu ?? 0));
  table.push([
    r.op,
    r.tool === 'docker' ? 'docker (CPU: dockerd+CLI)' : r.tool,
    (r.bytes / 1e6).toFixed(0),
    range(r.runs.map((t) => t.seconds)),
    range(mbps, 0),
    skMed
      ? `${(median(mbps) / skMed).toFixed(2)}x${r.tool === 'kiln' && median(mbps) / skMed < 1.2 ? ' (miss: target 1.2x)' : ''}`
      : '',
    range(cpu),
    range(r.runs.map((t) => t.registryCpu ?? 0)),
    range(r.runs.map((t, i) => (cpu[i] + (t.registryCpu ?? 0)) / cores)),
    r.tool === 'docker' ? 'n/a' : Math.max(...r.runs.map((t) => t.peakRssMiB)).toFixed(0),
  ]);
}
console.log('');
printTable(table);
console.log(
  `MB = 10^6 bytes of compressed blobs moved; medians' ratios; ${repeat} runs each (ranges min–max); CPU floor = (CPU + registry CPU) / ${cores} cores; ${cores} shared CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB; load at end ${load()}`,
);
const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
writeResults(join(out, 'registry.json'), {
  date: new Date().toISOString(),
  layerMiB,
  bigBytes,
  multiBytes,
  rows,
});
console.log(`results: ${join(out, 'registry.json')}`);
if (values.keep) console.log(`kept ${work} (kiln's source root: ${kilnSrc})`);
else rmSync(work, { recursive: true, force: true });
