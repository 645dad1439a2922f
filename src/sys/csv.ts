/** buildx's CSV reader for flag values: `a=b,c="d,e"` (quotes protect commas; empty fields dropped). */
export function splitCsv(text: string, unterminated: () => Error): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw unterminated();
  out.push(cur);
  return out.filter((s) => s !== '');
}
