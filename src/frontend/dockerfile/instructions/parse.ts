/**
 * AST → typed instructions with BuildKit's validation (instructions/parse.go): argument counts,
 * flags per instruction, ONBUILD triggers, heredoc sources, HEALTHCHECK options, stage names, and
 * "unknown instruction (did you mean …?)". Words stay raw; expand.ts does variable expansion.
 */
import type { Node, ParseResult } from '../parser/ast.ts';
import { chompHeredocContent, parseHeredoc } from '../parser/heredoc.ts';
import { parseError } from '../parser/parser.ts';
import { FlagError } from './bflag.ts';
import { parseHealthcheck } from './healthcheck.ts';
import {
  base,
  exactlyOne,
  fail,
  getComment,
  handleJSONArgs,
  InstructionError,
  parseRequest,
  type Request,
} from './request.ts';
import { parseDevice, parseMounts, parseNetwork, parseSecurity, RunFlagError } from './runmount.ts';
import { suggest } from './suggest.ts';
import type {
  ArgCommand,
  DockerfileInstructions,
  FromCommand,
  Instruction,
  KeyValuePair,
  KeyValuePairOptional,
  Mount,
  ShellDependantCmdLine,
  SourceContent,
  SourcesAndDest,
  Stage,
} from './types.ts';

/** Every instruction keyword BuildKit knows. */
export const INSTRUCTION_NAMES = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;

function parseKvps(args: string[], cmd: string): KeyValuePair[] {
  if (args.length === 0) fail(`${cmd} requires at least one argument`);
  if (args.length % 3 !== 0) fail(`Bad input to ${cmd}, too many arguments`);
  const res: KeyValuePair[] = [];
  for (let j = 0; j < args.length; j += 3) {
    if (args[j]!.length === 0) fail(`${cmd} names can not be blank`);
    res.push({ key: args[j]!, value: args[j + 1]!, noDelim: args[j + 2] === '' });
  }
  return res;
}

function parseSourcesAndDest(req: Request, command: string): SourcesAndDest {
  const srcs = req.args.slice(0, -1);
  const dest = req.args[req.args.length - 1]!;
  const mustParse = (w: string) => {
    try {
      return parseHeredoc(w);
    } catch {
      return undefined;
    }
  };
  if (mustParse(dest)) fail(`${command} cannot accept a heredoc as a destination`);
  const lookup = new Map(req.node.heredocs.map((h) => [h.name, h]));
  const sourcePaths: string[] = [];
  const sourceContents: SourceContent[] = [];
  for (const src of srcs) {
    const h = req.json ? undefined : mustParse(src);
    if (h) {
      let data = lookup.get(h.name)?.content ?? '';
      if (h.chomp) data = chompHeredocContent(data);
      sourceContents.push({ path: h.name, data, expand: h.expand });
    } else {
      sourcePaths.push(src);
    }
  }
  return { destPath: dest, sourcePaths, sourceContents };
}

function shellDependant(req: Request): ShellDependantCmdLine {
  return {
    cmdLine: handleJSONArgs(req.args, req.json),
    files: req.node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
    prependShell: !req.json,
  };
}

function dispatch(req: Request, file: string): Instruction | FromCommand {
  const f = req.flags;
  switch (req.command.toLowerCase()) {
    case 'env': {
      f.parse();
      return { ...base(req, 'ENV'), kind: 'ENV', env: parseKvps(req.args, 'ENV') };
    }
    case 'label': {
      f.parse();
      return { ...base(req, 'LABEL'), kind: 'LABEL', labels: parseKvps(req.args, 'LABEL') };
    }
    case 'maintainer':
      exactlyOne(req, 'MAINTAINER');
      f.parse();
      return { ...base(req, 'MAINTAINER'), kind: 'MAINTAINER', maintainer: req.args[0]! };
    case 'add': {
      if (req.args.length < 2) {
        fail(
          'ADD requires at least two arguments, but only one was provided. Destination could not be determined',
        );
      }
      const chown = f.addString('chown', '');
      const chmod = f.addString('chmod', '');
      const link = f.addBool('link', false);
      const keepGitDir = f.addBool('keep-git-dir', false);
      const checksum = f.addString('checksum', '');
      const exclude = f.addStrings('exclude');
      const unpack = f.addBool('unpack', false);
      f.parse();
      return {
        ...base(req, 'ADD'),
        kind: 'ADD',
        sourcesAndDest: parseSourcesAndDest(req, 'ADD'),
        chown: chown.value || undefined,
        chmod: chmod.value || undefined,
        link: link.isTrue,
        excludePatterns: exclude.values,
        keepGitDir: f.isUsed('keep-git-dir') ? keepGitDir.isTrue : undefined,
        checksum: checksum.value || undefined,
        unpack: f.isUsed('unpack') ? unpack.isTrue : undefined,
      };
    }
    case 'copy': {
      if (req.args.length < 2) {
        fail(
          'COPY requires at least two arguments, but only one was provided. Destination could not be determined',
        );
      }
      const chown = f.addString('chown', '');
      const from = f.addString('from', '');
      const chmod = f.addString('chmod', '');
      const link = f.addBool('link', false);
      const parents = f.addBool('parents', false);
      const exclude = f.addStrings('exclude');
      f.parse();
      return {
        ...base(req, 'COPY'),
        kind: 'COPY',
        sourcesAndDest: parseSourcesAndDest(req, 'COPY'),
        from: from.value || undefined,
        chown: chown.value || undefined,
        chmod: chmod.value || undefined,
        link: link.isTrue,
        parents: parents.isTrue,
        excludePatterns: exclude.values,
      };
    }
    case 'from': {
      const args = req.args;
      let name: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        name = args[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) {
          fail(
            `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`,
          );
        }
      } else if (args.length !== 1) {
        fail('FROM requires either one or three arguments');
      }
      const platform = f.addString('platform', '');
      f.parse();
      return {
        ...base(req, 'FROM'),
        kind: 'FROM',
        original: req.original.trim(),
        baseName: args[0]!,
        name,
        platform: platform.value || undefined,
      };
    }
    case 'onbuild': {
      if (req.args.length === 0) fail('ONBUILD requires at least one argument');
      f.parse();
      const trigger = req.args[0]!.trim().toUpperCase();
      if (trigger === 'ONBUILD') fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'MAINTAINER' || trigger === 'FROM')
        fail(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = req.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, '');
      for (const h of req.node.heredocs) expression += '\n' + h.content + h.name;
      const child = req.node.next[0]!.children[0]!;
      const triggerNode: Node = { ...child, heredocs: req.node.heredocs };
      const parsed = parseInstruction(triggerNode, { file });
      return { ...base(req, 'ONBUILD'), kind: 'ONBUILD', expression, trigger: parsed as Instruction };
    }
    case 'workdir':
      exactlyOne(req, 'WORKDIR');
      f.parse();
      return { ...base(req, 'WORKDIR'), kind: 'WORKDIR', path: req.args[0]! };
    case 'run': {
      const mount = f.addStrings('mount');
      const network = f.addString('network', '');
      const security = f.addString('security', '');
      const device = f.addStrings('device');
      f.parse();
      const mountSpecs = mount.values;
      let mounts: Mount[];
      try {
        mounts = parseMounts(mountSpecs);
      } catch (err) {
        // Values with variables are only checked after expansion (by the converter), as in BuildKit.
        if (!(err instanceof RunFlagError) || !mountSpecs.some((s) => s.includes('$'))) throw err;
        mounts = [];
      }
      return {
        ...base(req, 'RUN'),
        kind: 'RUN',
        ...shellDependant(req),
        mountSpecs,
        mounts,
        network: f.isUsed('network') ? parseNetwork(network.value) : undefined,
        security: f.isUsed('security') ? parseSecurity(security.value) : undefined,
        devices: device.values.map(parseDevice),
      };
    }
    case 'cmd':
      f.parse();
      return { ...base(req, 'CMD'), kind: 'CMD', ...shellDependant(req) };
    case 'entrypoint':
      f.parse();
      return { ...base(req, 'ENTRYPOINT'), kind: 'ENTRYPOINT', ...shellDependant(req) };
    case 'healthcheck':
      return parseHealthcheck(req);
    case 'expose':
      if (req.args.length === 0) fail('EXPOSE requires at least one argument');
      f.parse();
      return { ...base(req, 'EXPOSE'), kind: 'EXPOSE', ports: [...req.args].sort() };
    case 'user':
      exactlyOne(req, 'USER');
      f.parse();
      return { ...base(req, 'USER'), kind: 'USER', user: req.args[0]! };
    case 'volume': {
      if (req.args.length === 0) fail('VOLUME requires at least one argument');
      f.parse();
      const volumes = req.args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) fail('VOLUME specified can not be an empty string');
      return { ...base(req, 'VOLUME'), kind: 'VOLUME', volumes };
    }
    case 'stopsignal':
      // BuildKit does not parse flags for STOPSIGNAL.
      exactlyOne(req, 'STOPSIGNAL');
      return { ...base(req, 'STOPSIGNAL'), kind: 'STOPSIGNAL', signal: req.args[0]! };
    case 'arg': {
      if (req.args.length < 1) fail('ARG requires at least one argument');
      f.addBool('required', false);
      f.parse();
      // As in BuildKit, any use of --required (even =false) makes the ARG required.
      const required = f.isUsed('required');
      const args: KeyValuePairOptional[] = req.args.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a, docComment: getComment(req.comments, a) };
        const key = a.slice(0, eq);
        if (key === '') fail('ARG names can not be blank');
        return { key, value: a.slice(eq + 1), docComment: getComment(req.comments, key) };
      });
      return { ...base(req, 'ARG'), kind: 'ARG', args, required };
    }
    case 'shell': {
      f.parse();
      const shell = handleJSONArgs(req.args, req.json);
      if (shell.length === 0) fail('SHELL requires at least one argument');
      if (!req.json) fail('SHELL requires the arguments to be in JSON form');
      return { ...base(req, 'SHELL'), kind: 'SHELL', shell };
    }
    default:
      return fail(suggest(`unknown instruction: ${req.command}`, req.command, INSTRUCTION_NAMES, false));
  }
}

export interface ParseInstructionOptions {
  file?: string;
}

/**
 * One AST node → typed instruction (a FromCommand for FROM). Throws KilnError DOCKERFILE_PARSE
 * (`dockerfile parse error on line N: …`) with the node's location.
 */
export function parseInstruction(node: Node, opts: ParseInstructionOptions = {}): Instruction | FromCommand {
  const file = opts.file ?? 'Dockerfile';
  try {
    return dispatch(parseRequest(node, file), file);
  } catch (err) {
    if (err instanceof InstructionError || err instanceof FlagError || err instanceof RunFlagError) {
      throw parseError(
        file,
        Math.max(node.startLine, 1),
        Math.max(node.endLine, 1),
        err.message,
        hintFor(node),
      );
    }
    throw err;
  }
}

function hintFor(node: Node): string {
  const name = node.value.toUpperCase();
  // An unknown word has no reference section of its own ("see the FORM reference" misled).
  if (!(INSTRUCTION_NAMES as readonly string[]).includes(name))
    return 'see the instructions in the Dockerfile reference: https://docs.docker.com/reference/dockerfile/';
  return `see the ${name} reference: https://docs.docker.com/reference/dockerfile/`;
}

/** Stages and meta ARGs of a parsed Dockerfile (BuildKit instructions.Parse). */
export function parseStages(result: ParseResult): DockerfileInstructions {
  const stages: Stage[] = [];
  const metaArgs: ArgCommand[] = [];
  let current: { stage: Omit<Stage, 'instructions'>; instructions: Instruction[] } | undefined;
  const done: (typeof current)[] = [];
  for (const n of result.ast.children) {
    const inst = parseInstruction(n, { file: result.file });
    if (inst.kind === 'FROM') {
      current = {
        stage: {
          name: inst.name,
          baseName: inst.baseName,
          platform: inst.platform,
          location: inst.location,
          original: inst.original,
          docComment: getComment(n.prevComment, inst.name ?? ''),
          index: done.length,
          from: inst,
        },
        instructions: [],
      };
      done.push(current);
      continue;
    }
    if (!current) {
      if (inst.kind === 'ARG') {
        metaArgs.push(inst);
        continue;
      }
      throw parseError(
        result.file,
        n.startLine,
        n.endLine,
        'no build stage in current context',
        'a Dockerfile must start with FROM (only ARG may come before it)',
      );
    }
    current.instructions.push(inst);
  }
  for (const d of done) if (d) stages.push({ ...d.stage, instructions: d.instructions });
  return {
    stages,
    metaArgs,
    escapeToken: result.escapeToken,
    syntax: result.directives.syntax,
    check: result.directives.check,
    warnings: result.warnings.map((w) => ({
      short: w.short,
      detail: w.detail.join('\n'),
      url: w.url,
      location: w.location,
    })),
  };
}

export { parseGoDuration, parseOptInterval } from './healthcheck.ts';
export { handleJSONArgs, InstructionError } from './request.ts';
