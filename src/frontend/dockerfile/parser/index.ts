/** Public surface of the Dockerfile parser. */
export type { Directives, Heredoc, Node, ParseResult, Warning } from './ast.ts';
export { dumpAst, dumpNode, newNode, nodeLocation } from './ast.ts';
export type { DetectedDirective, Directive } from './directives.ts';
export { DirectiveParser, detectSyntax, parseDirective } from './directives.ts';
export { chompHeredocContent, heredocsFromLine, parseHeredoc } from './heredoc.ts';
export {
  ERR_NOT_STRING_ARRAY,
  extractBuilderFlags,
  parseJSON,
  parseNameVal,
  parseWords,
  splitCommand,
} from './line-parsers.ts';
export type { ParseOptions } from './parser.ts';
export {
  DEFAULT_ESCAPE_TOKEN,
  dockerfileTooLarge,
  MAX_DOCKERFILE_BYTES,
  MAX_INSTRUCTIONS,
  MAX_LINE_BYTES,
  MAX_STAGES,
  newNodeFromLine,
  parseDockerfile,
  parseError,
} from './parser.ts';
