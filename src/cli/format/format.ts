/**
 * docker's formatter.Context for every `--format`: `table TEMPLATE` (a header row made by running
 * the template on column titles, then the rows, aligned by the tabwriter), `json` (`{{json .}}`
 * per row), or a bare template per row; `\t` and `\n` in the flag are turned into the characters.
 */
import { tabwrite } from './tabwriter.ts';
import { parseTemplate, type TemplateFunc } from './template.ts';

/** True when the format makes a table (docker: starts with "table"). */
export function isTable(format: string): boolean {
  return format.startsWith('table');
}

/** The template a format runs: "table" cut off, "json" made `{{json .}}`, escapes turned into characters. */
export function templateText(format: string): string {
  let t = isTable(format) ? format.slice(5) : format === 'json' ? '{{json .}}' : format;
  t = t.replace(/^ +| +$/g, '');
  return t.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
}

const identity = (v: unknown) => v;
/** docker's templates.HeaderFunctions: on the header row, formatting functions pass titles through. */
const HEADER_FUNCS: Record<string, TemplateFunc> = {
  json: identity,
  split: identity,
  join: identity,
  title: identity,
  lower: identity,
  upper: identity,
  pad: identity,
  truncate: identity,
};

/** Column titles by field; a field without one has an empty title (a Go map's zero value). */
function headerContext(titles: Record<string, string>): Record<string, string> {
  return new Proxy(titles, {
    get: (t, k) => (typeof k === 'string' ? (t[k] ?? '') : undefined),
    has: () => true,
  });
}

/** Render `rows` with `format` (already resolved from "table"/"json" to a template where needed). */
export function formatRows(format: string, rows: object[], titles: Record<string, string>): string {
  const tmpl = parseTemplate(templateText(format));
  let body = '';
  for (const r of rows) body += `${tmpl.execute(r)}\n`;
  if (!isTable(format)) return body;
  let header = '';
  try {
    header = tmpl.execute(headerContext(titles), HEADER_FUNCS);
  } catch {
    // docker ignores a header the template cannot make (it prints what was made).
  }
  return tabwrite(`${header}\n${body}`);
}
