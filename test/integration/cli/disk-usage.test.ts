/**
 * `kiln du`, `kiln system df` and `kiln builder du` add up to what the state root holds on disk
 * (`du -sb`): blobs, snapshots, the build cache's databases and cache mounts. Each prune frees
 * what it reports. A symlink a build planted towards a host file is measured as a link, never
 * followed: the host file (a sentinel outside the root) is neither counted nor touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliRoot, cliRoot, near, parseHumanSize } from './helpers.ts';

let r: CliRoot;
let sentinel: string;
let sentinelHash: string;
before(async () => {
  r = await cliRoot('du');
  mkdirSync(join(r.dir, 'host'));
  sentinel = join(r.dir, 'host', 'sentinel');
  writeFileSync(sentinel, Buffer.alloc(3_000_000, 7));
  sentinelHash = createHash('sha256').update(readFileSync(sentinel)).digest('hex');
});
after(() => r.close());

interface DuJson {
  images: unknown[];
  total: number;
  reclaimable: number;
  buildCache: { size: number; reclaimable: number; snapshots: number; cacheMounts: number };
}
const duJson = (): DuJson => JSON.parse(r.ok(['du', '--format', 'json']));
const dfRows = () =>
  Object.fromEntries(
    r
      .ok(['system', 'df', '--format', 'json'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>)
      .map((row) => [row.Type, row]),
  );

/** Make every snapshot look an hour old: `builder prune` keeps younger ones (a running build's). */
function ageSnapshots(): void {
  const dir = join(r.root, 'snapshots', 'metadata');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const rec = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    rec.created = new Date(Date.now() - 3600_000).toISOString();
    writeFileSync(join(dir, f), JSON.stringify(rec));
  }
}

describe('disk usage', () => {
  it('du, system df and builder du add up to du -sb of the root, snapshots and cache mounts included', async () => {
    const ctx = await r.context({
      Dockerfile: [
        'FROM busybox',
        `RUN --mount=type=cache,target=/cache head -c 400000 /dev/urandom > /cache/c && ln -s ${sentinel} /cache/hostlink && head -c 600000 /dev/urandom > /data && ln -s ${sentinel} /hostlink`,
        'COPY . /ctx',
      ].join('\n'),
      'file.bin': 'x'.repeat(200_000),
    });
    r.ok(['build', '-q', '-t', 'du/app:1', ctx]);
    const disk = r.du();
    const du = duJson();
    near(du.total, disk, 1, 'kiln du total vs du -sb');
    assert.equal(du.buildCache.cacheMounts, 1);
    assert.ok(du.buildCache.snapshots >= 3, `snapshots: ${du.buildCache.snapshots}`);
    // Base layer (~2 MB), the RUN's 600 kB, the COPY's 200 kB and the 400 kB cache mount.
    assert.ok(du.buildCache.size > 3_000_000, `build cache: ${du.buildCache.size}`);

    const df = dfRows();
    assert.deepEqual(Object.keys(df), ['Images', 'Containers', 'Local Volumes', 'Build Cache']);
    assert.equal(df.Containers.Size, '0B');
    near(
      parseHumanSize(df.Images.Size) + parseHumanSize(df['Build Cache'].Size),
      disk,
      1,
      'system df vs du -sb',
    );
    // busybox's amd64 and arm64 images, its index (two names), and the build.
    assert.equal(df.Images.TotalCount, '4');

    const records = r
      .ok(['builder', 'du', '--format', 'json'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Size: string; Type: string });
    near(
      records.reduce((n, x) => n + parseHumanSize(x.Size), 0),
      du.buildCache.size,
      1,
      'builder du records vs the build cache',
    );
    assert.ok(records.some((x) => x.Type === 'exec.cachemount'));
    assert.match(
      r.ok(['builder', 'du']),
      /^ID\s+RECLAIMABLE\s+SIZE\s+LAST ACCESSED\n[\s\S]*\nReclaimable:\t\S+\nTotal:\t\t\S+\n$/,
    );
    assert.match(
      r.ok(['system', 'df']),
      /^TYPE {12}TOTAL {5}ACTIVE {4}SIZE {6}RECLAIMABLE\nImages {10}4 {9}0 {9}\S+ +\S+ \(\d+%\)\nContainers {6}0 {9}0 {9}0B {8}0B\nLocal Volumes {3}0 {9}0 {9}0B {8}0B\nBuild Cache {5}\d+ +\d+ +\S+ +\S+\n$/,
    );
  });

  it('each prune frees what it reports, and what is left is still all accounted for', () => {
    let disk = r.du();
    const df = dfRows();
    const imagesOut = r.ok(['image', 'prune', '-a', '-f']);
    const said = parseHumanSize(/Total reclaimed space: (\S+)\n$/.exec(imagesOut)?.[1] ?? '');
    near(said, disk - r.du(), 2, 'image prune -a: reported vs freed');
    // system df's Images RECLAIMABLE is what image prune -a gives back.
    near(
      parseHumanSize(df.Images.Reclaimable.split(' ')[0]),
      said,
      2,
      'system df reclaimable vs image prune -a',
    );
    assert.equal(r.ok(['prune', '-a', '-f']), 'Total reclaimed space: 0B\n');

    // No image left, but the build cache is: du said "Total: 0B" here once.
    disk = r.du();
    const du = duJson();
    assert.equal(du.images.length, 0);
    assert.ok(du.total > 3_000_000, `total: ${du.total}`);
    near(du.total, disk, 1, 'kiln du total vs du -sb, no images left');

    ageSnapshots();
    const reclaimable = parseHumanSize(dfRows()['Build Cache'].Reclaimable);
    assert.ok(reclaimable > 2_500_000, `build cache reclaimable: ${reclaimable}`);
    const out = r.ok(['builder', 'prune', '-a']);
    const freed = disk - r.du();
    near(
      parseHumanSize(/reclaimed (\S+)\n$/.exec(out)?.[1] ?? ''),
      freed,
      3,
      'builder prune: reported vs freed',
    );
    near(reclaimable, freed, 2, 'system df build cache reclaimable vs freed');
    // The cache mount stays (builder prune keeps it), and is still counted.
    const left = duJson();
    assert.equal(left.buildCache.snapshots, 0);
    assert.equal(left.buildCache.cacheMounts, 1);
    near(left.total, r.du(), 1, 'kiln du total vs du -sb after builder prune');
  });

  it('the host file a build linked to is neither counted nor changed', () => {
    assert.equal(createHash('sha256').update(readFileSync(sentinel)).digest('hex'), sentinelHash);
    // Counted as a link, the 3 MB host file would put kiln du 3 MB above du -sb.
    near(duJson().total, r.du(), 1, 'kiln du total vs du -sb');
  });
});
