/**
 * Running host programs. `execFileAsync` is util.promisify(execFile) bound at the call rather
 * than at load: the CLI bundle loads node:child_process on first use (scripts/bundle.ts), and a
 * fully cached build never runs a program.
 */
import { type ChildProcess, type ExecFileOptions, execFile, spawn } from 'node:child_process';

export interface ExecOutput {
  stdout: string;
  stderr: string;
}

/** Run `file` with `args`; rejects as promisify(execFile) does, with `stdout`/`stderr` on the error. */
export function execFileAsync(
  file: string,
  args: readonly string[],
  options: ExecFileOptions = {},
): Promise<ExecOutput> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * How a spawned child ended (once its output is closed); a child that could not start rejects
 * with what `startFailed` makes of the spawn error (a missing runtime, say).
 */
export function childExit(child: ChildProcess, startFailed: (err: Error) => Error): Promise<ChildExit> {
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(startFailed(err)));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Start `file` with `args` in its own session, its output discarded, and do not wait for it: for
 * work that may outlive kiln (a filesystem sync). A program that cannot start is ignored. The
 * child is returned for a caller that does want to see it end (a test).
 */
export function spawnDetached(file: string, args: readonly string[]): ChildProcess {
  const child = spawn(file, args, { detached: true, stdio: 'ignore' });
  child.once('error', () => undefined);
  child.unref();
  return child;
}
