/**
 * kiln's image records in the Engine API's shapes: `ImageSummary` (GET /images/json),
 * the history items of GET /images/{name}/history, and familiar names (`busybox:latest`,
 * `localhost:5000/app@sha256:…`) as dockerd shows them.
 */
import type { HistoryRow } from '../imagestore/history.ts';
import type { ImageSummary } from '../imagestore/query.ts';
import { familiarName, parseReference } from '../reference/reference.ts';

function seconds(iso: string | undefined): number {
  const t = Date.parse(iso ?? '');
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

export function imageSummaryJson(img: ImageSummary) {
  const refs = img.names.map((n) => parseReference(n));
  return {
    Containers: -1,
    Created: seconds(img.created),
    Id: img.id,
    Labels: img.labels,
    ParentId: '',
    RepoDigests: [
      ...new Set(refs.map((r) => familiarName({ domain: r.domain, path: r.path, digest: img.digest }))),
    ],
    RepoTags: refs.map((r) => familiarName(r)),
    SharedSize: -1,
    Size: img.size,
    VirtualSize: img.size,
  };
}

export function historyJson(rows: HistoryRow[]) {
  return rows.map((r) => ({
    Id: r.id ?? '<missing>',
    Created: seconds(r.created),
    CreatedBy: r.createdBy,
    Tags: r.tags.length ? r.tags : null,
    Size: r.size,
    Comment: r.comment,
  }));
}
