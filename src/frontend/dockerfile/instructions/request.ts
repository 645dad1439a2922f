/**
 * The parse request BuildKit's instruction parsers work on (a node's arguments, flags, heredocs,
 * location) and the helpers they share.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import type { Node } from '../parser/ast.ts';
import { BFlags } from './bflag.ts';

/** An instruction-level error without location (parseInstruction adds it). */
export class InstructionError extends Error {}

export const fail = (msg: string): never => {
  throw new InstructionError(msg);
};

export interface Request {
  command: string;
  args: string[];
  node: Node;
  json: boolean;
  flags: BFlags;
  original: string;
  location: SourceLocation;
  comments: string[];
}

export function nodeArgs(node: Node): string[] {
  const out: string[] = [];
  for (const arg of node.next) {
    if (arg.children.length === 0) out.push(arg.value);
    else if (arg.children.length === 1) {
      out.push(arg.children[0]!.value, ...nodeArgs(arg.children[0]!));
    }
  }
  return out;
}

/** JSON args as-is; otherwise all args joined by one space (BuildKit handleJSONArgs). */
export function handleJSONArgs(args: readonly string[], json: boolean): string[] {
  if (args.length === 0) return [];
  return json ? [...args] : [args.join(' ')];
}

/** Doc comment: the comment line starting with `name ` (that prefix removed). */
export function getComment(comments: readonly string[], name: string): string {
  if (name === '') return '';
  for (const line of comments) if (line.startsWith(name + ' ')) return line.slice(name.length + 1);
  return '';
}

export const exactlyOne = (req: Request, cmd: string) => {
  if (req.args.length !== 1) fail(`${cmd} requires exactly one argument`);
};

export function base(req: Request, kind: string) {
  return { kind, location: req.location, original: req.original, flagsUsed: req.flags.usedNames() };
}

export function parseRequest(node: Node, file: string): Request {
  return {
    command: node.value,
    args: nodeArgs(node),
    node,
    json: node.attributes.json === true,
    flags: new BFlags(node.flags),
    original: node.original,
    location: { file, startLine: node.startLine, endLine: node.endLine },
    comments: node.prevComment,
  };
}
