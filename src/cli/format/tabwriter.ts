/**
 * Go's text/tabwriter (elastic tabstops), which docker's tables go through: cells end at a tab,
 * a column is the run of consecutive lines that have a cell there, and each column is as wide
 * as its widest cell plus padding (at least minwidth). Text after a line's last tab is not part
 * of a column, so a row whose last cell is empty keeps the padding of the cell before it.
 */

export interface TabwriterOptions {
  minwidth: number;
  tabwidth: number;
  padding: number;
  /** ' ' pads with spaces; '\t' pads with tabs of `tabwidth` (buildx's summary lines). */
  padchar: ' ' | '\t';
}

/** docker's tables: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. */
export const DOCKER_TABLE: TabwriterOptions = { minwidth: 10, tabwidth: 1, padding: 3, padchar: ' ' };

interface Cell {
  text: string;
  width: number;
}

/** Display width as go-runewidth counts it: East Asian wide and fullwidth characters take two. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x1100) w += c === 0 ? 0 : 1;
    else if (isWide(c)) w += 2;
    else if ((c >= 0x300 && c <= 0x36f) || c === 0x200b) w += 0;
    else w += 1;
  }
  return w;
}

function isWide(c: number): boolean {
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0x303e) ||
    (c >= 0x3041 && c <= 0x33ff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0xa000 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1f64f) ||
    (c >= 0x1f900 && c <= 0x1f9ff) ||
    (c >= 0x20000 && c <= 0x3fffd)
  );
}

/** Align `text` (lines of tab-terminated cells) as Go's tabwriter does after Write + Flush. */
export function tabwrite(text: string, opts: TabwriterOptions = DOCKER_TABLE): string {
  const rawLines = text.split('\n');
  const lines: Cell[][] = rawLines.map((l) =>
    l.split('\t').map((t) => ({ text: t, width: displayWidth(t) })),
  );
  const out: string[] = [];
  const widths: number[] = [];

  const pad = (textw: number, cellw: number): string => {
    if (opts.padchar === '\t') {
      if (opts.tabwidth === 0) return '';
      const w = Math.ceil(cellw / opts.tabwidth) * opts.tabwidth;
      return '\t'.repeat(Math.ceil((w - textw) / opts.tabwidth));
    }
    return ' '.repeat(Math.max(0, cellw - textw));
  };

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i];
      let s = '';
      for (let j = 0; j < line.length; j++) {
        const c = line[j];
        s += c.text;
        // The last cell of a line is not tab-terminated: it gets no padding.
        if (j < line.length - 1 && j < widths.length) s += pad(c.width, widths[j]);
      }
      out.push(s);
    }
  };

  // Go's format(): find the blocks of lines that share a column, size it, recurse rightwards.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t].length - 1) continue;
      writeLines(line0, t);
      line0 = t;
      let width = opts.minwidth;
      for (; t < line1; t++) {
        const line = lines[t];
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column].width + opts.padding);
      }
      widths.push(width);
      format(line0, t);
      widths.pop();
      line0 = t;
      t--;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}
