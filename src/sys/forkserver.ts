/**
 * Short host commands (mount, umount, getfattr, setfattr, runc kill and delete) started from a
 * small shell process instead of from kiln's own. Node starts a child by forking kiln's whole
 * process: the fork copies its page tables and kiln then takes a copy-on-write fault for each
 * page it writes, so every spawn holds the main thread for 7 ms of CPU at 60 MiB resident and
 * 12 ms at 200 MiB (docs/performance.md, session 11), and a build with `COPY --from` and RUN
 * steps runs dozens. A shell (dash, ~2.5 MiB resident) forks for a fraction of that: kiln writes
 * it one line per command; the shell runs the command in the background, its input and output in
 * files of a directory of its own, and answers `<id> <status>` when it ends.
 *
 * - Arguments travel single-quoted (a quote inside as '\''), so the shell interprets no byte of
 *   them; a NUL is refused, as execFile refuses it.
 * - The shell runs in a session of its own: a terminal's ^C reaches kiln, which still unmounts
 *   through it while it stops.
 * - It keeps nothing alive: its pipes are unreferenced while no command runs.
 * - It ends when kiln does, however kiln ends: its input closes, and its EXIT trap waits for the
 *   commands still running, then removes its directory. A HUP, INT or TERM sent to the shell
 *   ends it the same way; a shell killed outright while kiln runs has its directory removed by
 *   kiln (only both killed at once leave it, in the temporary directory).
 *
 * The environment is kiln's as it was when the shell started (kiln does not change its own).
 * Output is read whole into memory, as execFile does; commands whose output is sized by user
 * data stream through a spawn of their own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecOutput } from './exec.ts';

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

interface Waiter {
  resolve: (status: number) => void;
  reject: (err: Error) => void;
}

class ForkServer {
  private readonly child: ChildProcess;
  readonly dir: string;
  private readonly waiting = new Map<number, Waiter>();
  private next = 0;
  private partial = '';
  /** The shell's own complaints (not a command's: those go to its files), for the error if it ends. */
  private complaints = '';
  ended: Error | undefined;

  get pid(): number | undefined {
    return this.child.pid;
  }

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `kiln-forks-${process.pid}-`));
    this.child = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.unref();
    this.child.stdin?.on('error', () => {}); // an ended shell is reported through 'exit'
    this.child.stdout?.setEncoding('latin1');
    this.child.stdout?.on('data', (text: string) => this.answers(text));
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => {
      this.complaints = (this.complaints + text).slice(-4096);
    });
    this.child.on('error', (err) => this.end(err));
    this.child.on('exit', (code, signal) =>
      this.end(
        new Error(`the fork server's shell ended (${signal ?? `status ${code}`}) ${this.complaints}`.trim()),
      ),
    );
    // A signal ends it as its input's end does (dash runs the trap once its read returns).
    this.write(`trap 'wait; rm -rf -- ${quote(this.dir)}' EXIT\ntrap 'exit 1' HUP INT TERM\n`);
    this.idle();
  }

  /** Run one command; resolves with its status once it has ended and its output files are complete. */
  run(id: number, line: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.ended) return reject(this.ended);
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) this.busy();
      this.write(line);
    });
  }

  nextId(): number {
    return this.next++;
  }

  private write(line: string): void {
    this.child.stdin?.write(line);
  }

  private answers(text: string): void {
    this.partial += text;
    for (let nl = this.partial.indexOf('\n'); nl >= 0; nl = this.partial.indexOf('\n')) {
      const [id, status] = this.partial.slice(0, nl).split(' ').map(Number);
      this.partial = this.partial.slice(nl + 1);
      const w = this.waiting.get(id);
      if (!w) continue;
      this.waiting.delete(id);
      if (this.waiting.size === 0) this.idle();
      w.resolve(status);
    }
  }

  private end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    if (server === this) server = undefined;
    // A shell killed outright never ran its trap; the directory is ours either way.
    void rm(this.dir, { recursive: true, force: true }).catch(() => {});
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.idle();
  }

  /** While a command runs, its answer must keep kiln alive; otherwise nothing of the shell does. */
  private busy(): void {
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr])
      (s as { ref?: () => void } | null)?.ref?.();
  }

  private idle(): void {
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr])
      (s as { unref?: () => void } | null)?.unref?.();
  }
}

let server: ForkServer | undefined;

/** The running server's directory (tests: it must be gone once kiln is). */
export function forkServerDir(): string | undefined {
  return server?.dir;
}

/** The running server's process (tests: it lives as long as kiln, not as long as a build). */
export function forkServerPid(): number | undefined {
  return server?.pid;
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
  const id = s.nextId();
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
    const status = await s.run(
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
