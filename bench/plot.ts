/**
 * A small log–log line plot for the bench: drawn as SVG by hand, rasterized to PNG by headless
 * Chromium (`chromium --screenshot`, installed on the bench machine), so the bench needs no
 * plotting library. When Chromium is missing the SVG is still written and the PNG is skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

const W = 520;
const H = 400;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

function niceTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo / 1.01 && v <= hi * 1.01) ticks.push(v);
    }
  return ticks;
}

const fmt = (v: number) => (v >= 1000 ? `${v / 1000}k` : `${Number(v.toPrecision(3))}`);

function panel(p: Panel, dx: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const x0 = Math.min(...xs) / 1.3;
  const x1 = Math.max(...xs) * 1.3;
  const y0 = Math.min(...ys) / 1.5;
  const y1 = Math.max(...ys) * 1.5;
  const px = (x: number) =>
    dx + M.left + ((Math.log(x) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * (W - M.left - M.right);
  const py = (y: number) =>
    M.top + (1 - (Math.log(y) - Math.log(y0)) / (Math.log(y1) - Math.log(y0))) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(
    `<text x="${dx + W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${p.title}</text>`,
  );
  out.push(
    `<rect x="${dx + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#444"/>`,
  );
  for (const t of niceTicks(y0, y1)) {
    out.push(
      `<line x1="${dx + M.left}" x2="${dx + W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
    );
    out.push(
      `<text x="${dx + M.left - 6}" y="${py(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`,
    );
  }
  for (const t of [...new Set(xs)]) {
    out.push(`<line y1="${M.top}" y2="${H - M.bottom}" x1="${px(t)}" x2="${px(t)}" stroke="#eee"/>`);
    out.push(
      `<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<text x="${dx + W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">small files in the context (log)</text>`,
  );
  out.push(
    `<text transform="translate(${dx + 16},${H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${p.yLabel}</text>`,
  );
  p.series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => x > 0 && y > 0);
    if (!good.length) return;
    const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [x, y] of good) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.color}"/>`);
    const ly = M.top + 14 + i * 15;
    out.push(
      `<line x1="${dx + M.left + 8}" x2="${dx + M.left + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${dx + M.left + 34}" y="${ly}" font-size="11">${s.label}</text>`);
  });
  return out.join('\n');
}

/** Write `panels` side by side as `<base>.svg` and, with Chromium, `<base>.png`; returns the PNG path or undefined. */
export function plot(panels: Panel[], base: string, caption: string): string | undefined {
  const width = W * panels.length;
  const height = H + 24;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<title>${panels.map((p) => p.title).join('; ')}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * W)),
    `<text x="8" y="${H + 16}" font-size="11" fill="#555">${caption.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`,
    '</svg>',
  ].join('\n');
  writeFileSync(`${base}.svg`, svg);
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((c) => existsSync(c));
  if (!chromium) return undefined;
  const r = spawnSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--window-size=${width},${height}`,
      `--screenshot=${base}.png`,
      `file://${base}.svg`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return r.status === 0 && existsSync(`${base}.png`) ? `${base}.png` : undefined;
}
