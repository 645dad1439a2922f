/**
 * The Dockerfile AST (BuildKit's parser.Node, with the `Next` linked list as an array) and its
 * dump in BuildKit's s-expression form, byte-for-byte as the parser testfiles' `result`.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { goQuote, trimGoSpace } from '../shell/quote.ts';

/** A heredoc attached to a RUN/COPY/ADD (or ONBUILD of one) line. */
export interface Heredoc {
  /** Delimiter with quotes removed. */
  name: string;
  /** Body as written (line endings kept, not tab-chomped), terminator line excluded. */
  content: string;
  /** False when any part of the delimiter was quoted. */
  expand: boolean;
  /** True for `<<-`. */
  chomp: boolean;
  /** `3<<EOF` → 3; 0 when absent. */
  fileDescriptor: number;
}

export interface Node {
  /** Instruction keyword as written (top-level nodes) or an argument value. */
  value: string;
  /** Argument nodes, in order (BuildKit's Next chain). */
  next: Node[];
  /** Top-level instructions (root) or a nested instruction (ONBUILD's argument). */
  children: Node[];
  /** Heredocs of this instruction. */
  heredocs: Heredoc[];
  /** `json: true` when the arguments came from a JSON array. */
  attributes: { json?: boolean };
  /** The instruction line as written, continuations joined. */
  original: string;
  /** `--flags` before the arguments, quotes removed, `--` dropped. */
  flags: string[];
  /** 1-based first line (on argument nodes: the instruction's). */
  startLine: number;
  /** 1-based last line, heredoc bodies included. */
  endLine: number;
  /** Comment lines right above the instruction (`#` and surrounding space removed). */
  prevComment: string[];
}

/** A warning found while parsing (e.g. empty continuation lines). */
export interface Warning {
  short: string;
  detail: string[];
  url: string;
  location: SourceLocation;
}

/** Parser directives found at the top of the file. */
export interface Directives {
  syntax?: string;
  escape?: string;
  check?: string;
}

export interface ParseResult {
  /** Root node; its children are the instructions. */
  ast: Node;
  escapeToken: string;
  warnings: Warning[];
  directives: Directives;
  /** File name used in locations. */
  file: string;
}

export function newNode(value = ''): Node {
  return {
    value,
    next: [],
    children: [],
    heredocs: [],
    attributes: {},
    original: '',
    flags: [],
    startLine: 0,
    endLine: 0,
    prevComment: [],
  };
}

/** BuildKit `Node.Dump()` for one node. */
export function dumpNode(node: Node): string {
  let str = node.value.toLowerCase();
  if (node.flags.length > 0) str += ' [' + node.flags.map(goQuote).join(' ') + ']';
  for (const c of node.children) str += '(' + dumpNode(c) + ')\n';
  for (const n of node.next) str += ' ' + (n.children.length > 0 ? dumpNode(n) : goQuote(n.value));
  return trimGoSpace(str);
}

/** The whole AST in BuildKit's dump form (one `(instr ...)` per line, no trailing newline). */
export function dumpAst(result: ParseResult | Node): string {
  return dumpNode('ast' in result ? result.ast : result);
}

/** Location of a node in `file`. */
export function nodeLocation(node: Node, file: string): SourceLocation {
  return { file, startLine: node.startLine, endLine: node.endLine };
}
