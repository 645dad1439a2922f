/**
 * Short host commands (getfattr, setfattr, runc kill and delete; mount and umount where there is
 * no mount server, mountserver.ts) started from a small shell process instead of from kiln's
 * own. Node starts a child by forking kiln's whole
 * process: the fork copies its page tables and kiln then takes a copy-on-write fault for each
 * page it writes, so every spawn holds the main thread for 7 ms of CPU at 60 MiB resident and
 * 12 ms at 200 MiB (docs/performance.md, session 11), and a build with `COPY --from` and RUN
 * steps runs dozens. A shell (dash, ~2.5 MiB resident) forks for a fraction of that: kiln writes
 * it one line per command; the shell runs the command in the background, its input and output in
 * files of a directory of its own, and answers `<id> <status>` when it ends.
 *
 * - Arguments travel single-quoted (a quote inside as '\''), so the shell interprets no byte of
 *   them; a NUL is refused, as execFile refuses it.
 * - The shell is a LineServer (lineserver.ts): its own session, nothing kept alive while idle.
 * - It ends when kiln does, however kiln ends: its input closes, and its EXIT trap waits for the
 *   commands still running, then removes its directory. A HUP, INT or TERM sent to the shell
 *   ends it the same way; a shell killed outright while kiln runs has its directory removed by
 *   kiln (only both killed at once leave it, in the temporary directory).
 *
 * The environment is kiln's as it was when the shell started (kiln does not change its own).
 * Output is read whole into memory, as execFile does; commands whose output is sized by user
 * data stream through a spawn of their own.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecOutput } from './exec.ts';
import { LineServer } from './lineserver.ts';

export interface ShortOptions {
  /** Working directory of the command. */
  cwd?: string;
  /** Bytes for the command's standard input (none: /dev/null). */
  input?: Buffer;
}

export interface ShortResult {
  stdout: Buffer;
  stderr: Buffer;
  /** The exit status as a shell reports it: 0–125, 126/127 when the program could not run, 128+n for signal n. */
  status: number;
}

/** The shell's status for a program it could not find. */
export const NOT_FOUND = 127;

/** The shell, and the directory of its commands' input and output files. */
class ForkServer {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), `kiln-forks-${process.pid}-`));
  readonly lines: LineServer;

  constructor() {
    this.lines = new LineServer("the fork server's shell", '/bin/sh', ['-s'], undefined, () => {
      if (server === this) server = undefined;
      // A shell killed outright never ran its trap; the directory is ours either way.
      void rm(this.dir, { recursive: true, force: true }).catch(() => {});
    });
    // A signal ends it as its input's end does (dash runs the trap once its read returns).
    this.lines.write(
      `trap 'wait; command -p rm -rf -- ${quote(this.dir)}' EXIT\ntrap 'exit 1' HUP INT TERM\n`,
    );
  }
}

let server: ForkServer | undefined;

/** The running server's directory (tests: it must be gone once kiln is). */
export function forkServerDir(): string | undefined {
  return server?.dir;
}

/** The running server's process (tests: it lives as long as kiln, not as long as a build). */
export function forkServerPid(): number | undefined {
  return server?.lines.pid;
}

/** A single-quoted shell word: every byte literal. */
export function quote(word: string): string {
  if (word.includes('\0')) throw new TypeError('a command argument cannot contain a NUL byte');
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Run `file` with `args` from the fork server: its status and whole output. Never rejects for
 * the command's own failure (see `status`); rejects when the shell could not start or ended.
 */
export async function runShort(
  file: string,
  args: readonly string[],
  options: ShortOptions = {},
): Promise<ShortResult> {
  server ??= new ForkServer();
  const s = server;
  const id = s.lines.nextId();
  const base = path.join(s.dir, String(id));
  const words = [file, ...args].map(quote).join(' ');
  const cd = options.cwd === undefined ? '' : `cd -- ${quote(options.cwd)} && `;
  const out = `${base}.out`;
  const err = `${base}.err`;
  const made = [out, err];
  let stdin = '/dev/null';
  if (options.input) {
    stdin = `${base}.in`;
    made.push(stdin);
    await writeFile(stdin, options.input);
  }
  try {
    const status = await s.lines.run(
      id,
      `{ ( ${cd}exec ${words} ) <${quote(stdin)} >${quote(out)} 2>${quote(err)}; echo "${id} $?"; } &\n`,
    );
    const [stdout, stderr] = await Promise.all([readFile(out), readFile(err)]);
    return { stdout, stderr, status };
  } finally {
    // Only what this command made: most have no input file, and each removal is a round trip.
    await Promise.all(made.map((f) => rm(f, { force: true })));
  }
}

/**
 * `runShort` as `execFileAsync` answers: the output as text, and a non-zero status rejected
 * with an error that carries `code` (the status), `stdout` and `stderr`.
 */
export async function execShort(
  file: string,
  args: readonly string[],
  options: ShortOptions = {},
): Promise<ExecOutput> {
  const r = await runShort(file, args, options);
  const stdout = r.stdout.toString('utf8');
  const stderr = r.stderr.toString('utf8');
  if (r.status !== 0) {
    throw Object.assign(new Error(`Command failed: ${file} ${args.join(' ')}\n${stderr}`), {
      code: r.status,
      stdout,
      stderr,
    });
  }
  return { stdout, stderr };
}
