/**
 * SIGINT and SIGTERM for every command: the first aborts `commandSignal()` (the build's solver,
 * runc — which kills the container —, registry transfers, archive writes), so the command
 * unwinds through its cleanups and kiln exits 130/143; a second signal, or a command still busy
 * after a grace period, exits at once (what is left over is cleaned by the next kiln command).
 */
import { KilnError } from '../errors/errors.ts';

/** How long a canceled command may take to clean up before kiln exits anyway. */
const GRACE_MS = 10_000;

const EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

const controller = new AbortController();
let received: NodeJS.Signals | undefined;
let finishing = false;
let graceMs = GRACE_MS;

/** A command that needs longer than 10 s to wind down (kiln serve's shutdown) says so here. */
export function setGracePeriod(ms: number): void {
  graceMs = ms;
}

/** Aborted when the user asks kiln to stop. */
export function commandSignal(): AbortSignal {
  return controller.signal;
}

/** The exit status for the signal received (130 for SIGINT, 143 for SIGTERM), if one was. */
export function signalExitCode(): number | undefined {
  return received && EXIT_CODES[received];
}

/** The command is done (kiln is only flushing its output): a signal now exits at once. */
export function commandFinished(): void {
  finishing = true;
}

function onSignal(sig: NodeJS.Signals): void {
  if (received || finishing) process.exit(EXIT_CODES[received ?? sig]);
  received = sig;
  process.stderr.write(
    `\n${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: cleaning up (signal again to exit now)\n`,
  );
  controller.abort(
    new KilnError('CANCELED', `canceled by ${sig}`, {
      exitCode: EXIT_CODES[sig],
      hint: 'the command was stopped on request; run it again to finish it',
    }),
  );
  setTimeout(() => process.exit(EXIT_CODES[sig]), graceMs);
}

export function installSignalHandlers(): void {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
