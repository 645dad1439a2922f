/**
 * kiln's image, history and disk-usage output against the Docker CLI's, byte for byte: the same
 * images, history and disk usage that testdata/capture-docker.ts served to `docker` (28.x) are
 * rendered by kiln's row builders and formats, at the moment docker rendered them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CacheRecord } from '../../cache/usage.ts';
import type { Digest } from '../../digest/digest.ts';
import type { HistoryRow } from '../../imagestore/history.ts';
import type { ImageSummary } from '../../imagestore/query.ts';
import { normalizeReference } from '../../reference/reference.ts';
import { formatRows } from '../format/format.ts';
import { HISTORY_TITLES, historyFormat, historyRow } from './image-history.ts';
import { IMAGE_TITLES, imageFormat, imageRows } from './images.ts';
import { cacheRow, dfImageRows, summaryRow, verboseTables } from './system.ts';

interface ApiImage {
  Id: Digest;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
}
const golden = JSON.parse(
  readFileSync(join(import.meta.dirname, 'testdata', 'docker-formats.json'), 'utf8'),
) as {
  t0: number;
  images: ApiImage[];
  history: { Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[];
  df: {
    BuildCache: { ID: string; Size: number; CreatedAt: string; LastUsedAt: string; UsageCount: number }[];
  };
  outputs: Record<string, string>;
};
const now = golden.t0 * 1000;
process.env.TZ = 'UTC';

/** The Engine API's image summary as kiln's listing would have it. */
function summary(i: ApiImage): ImageSummary {
  const names = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>').map((t) => normalizeReference(t));
  const digest = (i.RepoDigests?.[0]?.split('@')[1] ?? i.Id) as Digest;
  return {
    id: i.Id,
    digest,
    names,
    created: new Date(i.Created * 1000).toISOString(),
    size: i.Size,
    layers: [],
    labels: {},
    platforms: [],
    storedAt: '',
    lastTagTime: '',
  };
}
const images = golden.images.map(summary);

function images_(
  format: string,
  flags: { quiet?: boolean; digests?: boolean; noTrunc?: boolean } = {},
): string {
  const f = imageFormat(format, Boolean(flags.quiet), Boolean(flags.digests));
  const rows = imageRows(images, {
    trunc: !flags.noTrunc,
    digests: Boolean(flags.digests) || f.includes('{{.Digest}}'),
    now,
  });
  return formatRows(f, rows, IMAGE_TITLES);
}

describe('docker images, as the Docker CLI prints it', () => {
  it('the default table, --digests, --no-trunc and -q', () => {
    assert.equal(images_('table'), golden.outputs.images);
    assert.equal(images_('table', { digests: true }), golden.outputs.imagesDigests);
    assert.equal(images_('table', { noTrunc: true }), golden.outputs.imagesNoTrunc);
    assert.equal(images_('table', { quiet: true }), golden.outputs.imagesQuiet);
  });

  it('--format json, a table template, and --digests added to a template', () => {
    assert.equal(images_('json'), golden.outputs.imagesJson);
    assert.equal(
      images_('table {{.ID}}\\t{{.Repository}}:{{.Tag}}\\t{{.Size}}\\t{{.CreatedAt}}'),
      golden.outputs.imagesTemplate,
    );
    assert.equal(
      images_('table {{.Repository}}\\t{{.Size}}', { digests: true }),
      golden.outputs.imagesDigestTable,
    );
  });
});

describe('docker image history, as the Docker CLI prints it', () => {
  const rows: HistoryRow[] = golden.history.map((h) => ({
    id: h.Id === '<missing>' ? undefined : (h.Id as Digest),
    created: h.Created ? new Date(h.Created * 1000).toISOString() : undefined,
    createdBy: h.CreatedBy,
    size: h.Size,
    comment: h.Comment,
    tags: [],
    emptyLayer: false,
  }));
  const render = (format: string, o: { quiet?: boolean; human?: boolean; noTrunc?: boolean }) => {
    const human = o.human ?? true;
    const f = historyFormat(format, Boolean(o.quiet), human);
    return formatRows(
      f,
      rows.map((r) => historyRow(r, { trunc: !o.noTrunc, human, now })),
      HISTORY_TITLES,
    );
  };

  it('the table (ID on top, N/A for a zero time), -H=false --no-trunc, json and -q', () => {
    assert.equal(render('table', {}), golden.outputs.history);
    assert.equal(render('table', { human: false, noTrunc: true }), golden.outputs.historyRaw);
    assert.equal(render('json', {}), golden.outputs.historyJson);
    assert.equal(render('table', { quiet: true }), golden.outputs.historyQuiet);
  });
});

describe('docker system df, as the Docker CLI prints it', () => {
  const summaries = () => [
    summaryRow('Images', 3, 0, 5_000_000, 5_000_000, true),
    summaryRow('Containers', 0, 0, 0, 0, true),
    summaryRow('Local Volumes', 0, 0, 0, 0, true),
    summaryRow('Build Cache', 1, 0, 12345, 12345, false),
  ];
  const DF = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

  it('the summary table and json', () => {
    const titles = {
      Type: 'TYPE',
      TotalCount: 'TOTAL',
      Active: 'ACTIVE',
      Size: 'SIZE',
      Reclaimable: 'RECLAIMABLE',
    };
    assert.equal(formatRows(DF, summaries(), titles), golden.outputs.df);
    assert.equal(formatRows('json', summaries(), titles), golden.outputs.dfJson);
  });

  it('-v: images once each with shared and unique sizes, empty containers and volumes, cache records', () => {
    const shared = new Map(images.map((i) => [i.id, 100]));
    const record = golden.df.BuildCache[0];
    const cache: CacheRecord = {
      id: record.ID,
      key: '',
      parents: [],
      type: 'regular',
      description: '',
      mutable: false,
      reclaimable: true,
      shared: false,
      size: record.Size,
      createdAt: record.CreatedAt,
      lastUsedAt: record.LastUsedAt,
      usageCount: record.UsageCount,
    };
    assert.equal(
      verboseTables(dfImageRows(images, { trunc: true, now, shared }), [cacheRow(cache, true, now)], 12345),
      golden.outputs.dfVerbose,
    );
  });
});
