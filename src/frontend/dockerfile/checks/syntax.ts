/**
 * The checks BuildKit runs on the parsed Dockerfile before anything is converted: stage-name
 * casing and `AS` casing, MAINTAINER, description comments of FROM and ARG (as its instruction
 * parser does, node by node), then reserved and duplicate stage names, then instruction casing
 * across the whole file. Each finding points at the instruction's lines.
 */
import { type Node, nodeLocation, type ParseResult } from '../parser/ast.ts';
import { type Finding, finding, MESSAGES } from './rules.ts';

const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

function isLower(s: string): boolean {
  return s === s.toLowerCase();
}

function isUpper(s: string): boolean {
  return s === s.toUpperCase();
}

/** The words after the keyword (flags are apart): `FROM a AS b` → `a AS b`. */
function args(n: Node): string[] {
  return n.next.map((a) => a.value);
}

/**
 * BuildKit's validateDefinitionDescription: the comment right above a FROM … AS name or an ARG
 * should start with the name it describes.
 */
function definitionDescription(
  instruction: 'FROM' | 'ARG',
  keys: string[],
  n: Node,
  file: string,
  lines: readonly string[],
): Finding | undefined {
  if (n.prevComment.length === 0 || keys.length === 0) return undefined;
  // A description is the comment right above; an empty line in between makes it a plain
  // comment (BuildKit's documented way to keep one).
  if ((lines[n.startLine - 2] ?? '').trim() === '') return undefined;
  const first = n.prevComment[n.prevComment.length - 1].split(' ')[0];
  if (keys.includes(first)) return undefined;
  const example = keys.length > 1 ? '<arg_key>' : keys[0];
  return finding(
    'InvalidDefinitionDescription',
    MESSAGES.InvalidDefinitionDescription(instruction, example),
    nodeLocation(n, file),
  );
}

/** ARG names as the instruction parser reads them: `a`, `b=1` → `a`, `b`. */
function argKeys(n: Node): string[] {
  return args(n).map((w) => (w.includes('=') ? w.slice(0, w.indexOf('=')) : w));
}

/** Findings of the instruction parser, node by node (BuildKit's ParseInstructionWithLinter). */
function perInstruction(parsed: ParseResult, lines: readonly string[]): Finding[] {
  const out: Finding[] = [];
  const file = parsed.file;
  for (const n of parsed.ast.children) {
    const where = nodeLocation(n, file);
    const kw = n.value.toLowerCase();
    if (kw === 'maintainer') {
      out.push(finding('MaintainerDeprecated', MESSAGES.MaintainerDeprecated(), where));
    } else if (kw === 'from') {
      const a = args(n);
      if (a.length === 3 && !isLower(a[2]))
        out.push(finding('StageNameCasing', MESSAGES.StageNameCasing(a[2]), where));
      // A FROM keyword of mixed case is ConsistentInstructionCasing's business, not this rule's.
      if (a.length >= 3 && (isLower(n.value) || isUpper(n.value))) {
        const matches = isLower(n.value) ? isLower(a[1]) : isUpper(a[1]);
        if (!matches) out.push(finding('FromAsCasing', MESSAGES.FromAsCasing(n.value, a[1]), where));
      }
      if (a.length === 3 && a[1].toLowerCase() === 'as') {
        const f = definitionDescription('FROM', [a[2].toLowerCase()], n, file, lines);
        if (f) out.push(f);
      }
    } else if (kw === 'arg') {
      const f = definitionDescription('ARG', argKeys(n), n, file, lines);
      if (f) out.push(f);
    }
  }
  return out;
}

/** The FROM nodes and the instructions of each stage (what comes before the first FROM is not a stage's). */
function stageNodes(parsed: ParseResult): { from: Node; commands: Node[] }[] {
  const stages: { from: Node; commands: Node[] }[] = [];
  for (const n of parsed.ast.children) {
    if (n.value.toLowerCase() === 'from') stages.push({ from: n, commands: [] });
    else stages.at(-1)?.commands.push(n);
  }
  return stages;
}

/** BuildKit's validateStageNames: reserved names, then names used before. */
function stageNames(parsed: ParseResult): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const { from } of stageNodes(parsed)) {
    const a = args(from);
    if (a.length !== 3) continue;
    const name = a[2].toLowerCase();
    const where = nodeLocation(from, parsed.file);
    if (RESERVED_STAGE_NAMES.has(name))
      out.push(finding('ReservedStageName', MESSAGES.ReservedStageName(name), where));
    if (seen.has(name)) out.push(finding('DuplicateStageName', MESSAGES.DuplicateStageName(name), where));
    seen.add(name);
  }
  return out;
}

/**
 * BuildKit's validateCommandCasing: the casing most stage instructions use (a tie counts as
 * upper) is the one every instruction should use; a mixed-case keyword never matches.
 */
function instructionCasing(parsed: ParseResult): Finding[] {
  const stages = stageNodes(parsed);
  const nodes = stages.flatMap((s) => [s.from, ...s.commands]);
  let lower = 0;
  let upper = 0;
  for (const n of nodes) {
    if (!isLower(n.value) && !isUpper(n.value)) continue;
    if (isLower(n.value)) lower++;
    else upper++;
  }
  const majorityLower = lower > upper;
  const out: Finding[] = [];
  for (const n of nodes) {
    let casing = '';
    if (majorityLower && !isLower(n.value)) casing = 'lowercase';
    else if (!majorityLower && !isUpper(n.value)) casing = 'uppercase';
    if (casing) {
      out.push(
        finding(
          'ConsistentInstructionCasing',
          MESSAGES.ConsistentInstructionCasing(n.value, casing),
          nodeLocation(n, parsed.file),
        ),
      );
    }
  }
  return out;
}

/** Every finding on the parsed file (`source` is its text), in the order BuildKit reports them. */
export function syntaxChecks(parsed: ParseResult, source: string): Finding[] {
  const lines = source.split(/\r?\n/);
  return [...perInstruction(parsed, lines), ...stageNames(parsed), ...instructionCasing(parsed)];
}
