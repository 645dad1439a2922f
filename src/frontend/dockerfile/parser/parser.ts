/**
 * The Dockerfile parser (BuildKit frontend/dockerfile/parser): directives, escape token, line
 * continuations (skipping comments and blank lines inside them, with a warning for blank ones),
 * per-instruction argument parsing, heredoc bodies, and line ranges on every node.
 */
import { hasCode, KilnError } from '../../../errors/errors.ts';
import { trimGoSpace, trimLeftGoSpace } from '../shell/quote.ts';
import { type Directives, type Node, newNode, type ParseResult, type Warning } from './ast.ts';
import { DirectiveError, DirectiveParser } from './directives.ts';
import { heredocsFromLine } from './heredoc.ts';
import { DISPATCH, LineParseError, splitCommand } from './line-parsers.ts';

export const DEFAULT_ESCAPE_TOKEN = '\\';
/** bufio.MaxScanTokenSize - 1: the longest physical line BuildKit accepts, in bytes. */
export const MAX_LINE_BYTES = 65535;

/**
 * The largest Dockerfile kiln reads. BuildKit has no explicit cap, only gRPC's message limits
 * (a Dockerfile travels as one message, 16 MiB by default in buildx); 10 MiB is far beyond any
 * real one and keeps what a hostile context can make kiln parse and hold bounded.
 */
export const MAX_DOCKERFILE_BYTES = 10 << 20;
/** Instructions per Dockerfile (BuildKit: no cap). 20,000 ENV lines convert in well under a second. */
export const MAX_INSTRUCTIONS = 25_000;
/**
 * Stages (FROM lines) per Dockerfile (BuildKit: no cap). Each may resolve a base image and holds
 * its own copy of an image config (at most 4 MiB): 256 stages stay within 1 GiB.
 */
export const MAX_STAGES = 256;

/** DOCKERFILE_TOO_LARGE for a Dockerfile of `bytes` bytes, before or after reading it. */
export function dockerfileTooLarge(file: string, bytes: number): KilnError {
  return new KilnError(
    'DOCKERFILE_TOO_LARGE',
    `${file} is ${bytes} bytes; kiln reads Dockerfiles of at most ${MAX_DOCKERFILE_BYTES} bytes`,
    { hint: 'split the build into several Dockerfiles, or generate less into it' },
  );
}

const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

export interface ParseOptions {
  /** File name for error locations (default `Dockerfile`). */
  file?: string;
}

/** Builds the KilnError for a parse failure at the given lines. */
export function parseError(
  file: string,
  startLine: number,
  endLine: number,
  message: string,
  hint?: string,
): KilnError {
  return new KilnError('DOCKERFILE_PARSE', `dockerfile parse error on line ${startLine}: ${message}`, {
    hint: hint ?? 'fix the Dockerfile syntax at this line',
    location: { file, startLine, endLine: Math.max(startLine, endLine) },
  });
}

class Escape {
  token = DEFAULT_ESCAPE_TOKEN;
  continuation = Escape.regex(DEFAULT_ESCAPE_TOKEN);

  set(s: string): void {
    if (s !== '`' && s !== '\\')
      throw new DirectiveError(`invalid escape token '${s}' does not match \` or \\`);
    this.token = s;
    this.continuation = Escape.regex(s);
  }

  /** The escape token at the end of a line (optionally followed by blanks) continues it, unless itself escaped. */
  private static regex(s: string): RegExp {
    const e = '\\' + s;
    return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  trimContinuation(line: string): [string, boolean] {
    if (this.continuation.test(line)) return [line.replace(this.continuation, '$1'), false];
    return [line, true];
  }
}

const trimNewline = (s: string) => s.replace(/[\r\n]+$/, '');
const isComment = (line: string) => trimLeftGoSpace(line).startsWith('#');
const isEmptyContinuationLine = (line: string) => trimLeftGoSpace(trimNewline(line)).length === 0;

/** Split keeping line endings (BuildKit's scanLines), enforcing the line size limit. */
function scanLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function canContainHeredoc(node: Node): boolean {
  let n = node;
  if (n.value.toLowerCase() === 'onbuild' && n.next[0] && n.next[0].children.length > 0)
    n = n.next[0].children[0]!;
  return HEREDOC_INSTRUCTIONS.has(n.value.toLowerCase()) && !n.attributes.json;
}

/** One instruction line → node (BuildKit newNodeFromLine). Throws LineParseError. */
export function newNodeFromLine(line: string, escapeToken: string, comments: string[] = []): Node {
  const { cmd, flags, args } = splitCommand(line);
  const key = cmd.toLowerCase();
  const node = newNode(cmd);
  node.original = line;
  node.flags = flags;
  node.prevComment = comments;
  if (key === 'onbuild') {
    if (args !== '') {
      const holder = newNode('');
      holder.children = [newNodeFromLine(args, escapeToken)];
      node.next = [holder];
    }
    return node;
  }
  const parse = DISPATCH[key];
  if (!parse) {
    node.next = [newNode('')];
    return node;
  }
  const parsed = parse(args, escapeToken);
  node.next = parsed.next;
  if (parsed.json) node.attributes = { json: true };
  return node;
}

function setLines(node: Node, start: number, end: number): void {
  node.startLine = start;
  node.endLine = end;
  for (const n of node.next) setLines(n, start, end);
  for (const c of node.children) setLines(c, start, end);
}

/** Parse Dockerfile text (or UTF-8 bytes). Throws KilnError DOCKERFILE_PARSE with a location. */
export function parseDockerfile(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  const file = opts.file ?? 'Dockerfile';
  const bytes = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (bytes > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge(file, bytes);
  const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
  const lines = scanLines(text);
  let stages = 0;
  const esc = new Escape();
  const dparser = new DirectiveParser();
  const directives: Directives = {};
  const warnings: Warning[] = [];
  const root = newNode('');
  root.startLine = -1;
  let comments: string[] = [];
  let currentLine = 0;
  let idx = 0;

  const checkSize = (raw: string, lineNo: number) => {
    if (
      Buffer.byteLength(raw) > MAX_LINE_BYTES + 1 ||
      (!raw.endsWith('\n') && Buffer.byteLength(raw) > MAX_LINE_BYTES)
    ) {
      throw parseError(
        file,
        lineNo,
        lineNo,
        `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`,
      );
    }
  };
  const processLine = (raw: string, stripLeft: boolean, lineNo: number): [string, boolean] => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftGoSpace(token);
    let found = false;
    try {
      const d = dparser.parseLine(token);
      if (d) {
        if (d.name === 'escape') esc.set(d.value);
        directives[d.name as keyof Directives] = d.value;
        found = true;
      }
    } catch (err) {
      if (err instanceof DirectiveError) throw parseError(file, lineNo, lineNo, err.message);
      throw err;
    }
    return [isComment(token) ? '' : token, found];
  };

  while (idx < lines.length) {
    let raw = lines[idx++]!;
    checkSize(raw, currentLine + 1);
    if (currentLine === 0 && raw.startsWith('\ufeff')) raw = raw.slice(1);
    if (isComment(raw)) {
      const comment = trimGoSpace(raw.slice(1));
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const [processed, directiveOk] = processLine(raw, true, currentLine + 1);
    if (directiveOk) comments.pop();
    currentLine++;
    const startLine = currentLine;
    let [line, isEndOfLine] = esc.trimContinuation(processed);
    if (isEndOfLine && line.length === 0) continue;

    let hasEmptyContinuationLine = false;
    while (!isEndOfLine && idx < lines.length) {
      const raw2 = lines[idx++]!;
      checkSize(raw2, currentLine + 1);
      const [p2] = processLine(raw2, false, currentLine + 1);
      currentLine++;
      if (isComment(raw2)) continue;
      if (isEmptyContinuationLine(p2)) {
        hasEmptyContinuationLine = true;
        continue;
      }
      let part: string;
      [part, isEndOfLine] = esc.trimContinuation(p2);
      line += part;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        short: 'Empty continuation line found in: ' + line,
        detail: ['Empty continuation lines will become errors in a future release'],
        url: EMPTY_CONTINUATION_URL,
        location: { file, startLine: currentLine, endLine: currentLine },
      });
    }

    let child: Node;
    try {
      child = newNodeFromLine(line, esc.token, comments);
    } catch (err) {
      if (err instanceof LineParseError) throw parseError(file, startLine, currentLine, err.message);
      throw err;
    }

    if (canContainHeredoc(child) && line.includes('<<')) {
      let docs: ReturnType<typeof heredocsFromLine>;
      try {
        docs = heredocsFromLine(line);
      } catch (err) {
        if (hasCode(err, 'DOCKERFILE_EXPAND')) {
          throw parseError(file, startLine, currentLine, (err as Error).message);
        }
        throw err;
      }
      for (const doc of docs) {
        let terminated = false;
        while (idx < lines.length) {
          const body = lines[idx++]!;
          currentLine++;
          let candidate = trimNewline(body);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          doc.content += body;
        }
        if (!terminated) {
          throw parseError(
            file,
            startLine,
            currentLine,
            'unterminated heredoc',
            `end the heredoc with a line "${doc.name}"`,
          );
        }
        child.heredocs.push(doc);
      }
    }

    if (root.children.length >= MAX_INSTRUCTIONS) {
      throw new KilnError(
        'DOCKERFILE_TOO_LARGE',
        `dockerfile has more than ${MAX_INSTRUCTIONS} instructions (line ${startLine} is one too many)`,
        {
          hint: 'split the build into several Dockerfiles, or merge steps',
          location: { file, startLine, endLine: currentLine },
        },
      );
    }
    if (child.value.toLowerCase() === 'from' && ++stages > MAX_STAGES) {
      throw new KilnError('DOCKERFILE_TOO_LARGE', `dockerfile has more than ${MAX_STAGES} stages`, {
        hint: 'split the build into several Dockerfiles',
        location: { file, startLine, endLine: currentLine },
      });
    }
    setLines(child, startLine, currentLine);
    if (root.startLine < 0) root.startLine = startLine;
    root.endLine = currentLine;
    root.children.push(child);
    comments = [];
  }

  if (root.startLine < 0) {
    throw parseError(
      file,
      Math.max(currentLine, 1),
      Math.max(currentLine, 1),
      'file with no instructions',
      'a Dockerfile needs at least a FROM instruction',
    );
  }
  return { ast: root, escapeToken: esc.token, warnings, directives, file };
}
