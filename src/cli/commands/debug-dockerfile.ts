/**
 * `kiln debug dockerfile [--json] FILE`: parse a Dockerfile (FILE `-` = stdin) and print BuildKit's
 * AST dump, or the whole parse result as JSON. Also owns the shared `debug` parent command.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { dumpAst, type ParseResult, parseDockerfile } from '../../frontend/dockerfile/parser/index.ts';

/** The `debug` command, created on first use so several modules can attach subcommands. */
export function debugCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'debug') ??
    program.command('debug').description('inspect what kiln does with a build description')
  );
}

async function readInput(file: string): Promise<Uint8Array> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch (err) {
    throw new KilnError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'pass the path of a Dockerfile, or - to read it from stdin',
    });
  }
}

/** Parse `file` and return what the command prints (without the final newline). */
export async function debugDockerfile(file: string, opts: { json?: boolean } = {}): Promise<string> {
  const result: ParseResult = parseDockerfile(await readInput(file), {
    file: file === '-' ? '<stdin>' : file,
  });
  return opts.json ? JSON.stringify(result, null, 2) : dumpAst(result);
}

export function register(program: Command): void {
  debugCommand(program)
    .command('dockerfile')
    .description("print a Dockerfile's syntax tree (BuildKit's dump form, or JSON)")
    .argument('<file>', 'Dockerfile path, or - for stdin')
    .option('--json', 'print the full parse result as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      process.stdout.write(`${await debugDockerfile(file, o)}\n`);
    });
}
