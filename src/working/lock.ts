/**
 * The lock a command takes on a working container while it uses it, across processes: SQLite's
 * write lock on `<root>/containers/<id>.lock`, held by an open transaction for as long as the
 * command runs. The kernel drops it when its holder dies, so `kill -9` never leaves it taken.
 */
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../errors/errors.ts';

const POLL_MS = 100;

export interface LockWait {
  /** Called once when the lock is taken by another process and this one starts waiting. */
  onWait?: () => void;
  /** Give up after this long (default: wait until the other command ends). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class ContainerLock {
  private db?: DatabaseSync;
  readonly file: string;
  private readonly what: string;

  constructor(file: string, what: string) {
    this.file = file;
    this.what = what;
  }

  /**
   * Take the lock, polling (a busy timeout would block the event loop, and with it Ctrl-C) until
   * it is free, the timeout passes or `signal` aborts.
   */
  async acquire(opts: LockWait = {}): Promise<void> {
    const started = Date.now();
    let waited = false;
    for (;;) {
      this.db ??= new DatabaseSync(this.file, { timeout: 0 });
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if (!/locked|busy/i.test((err as Error).message)) {
          this.release();
          throw err;
        }
      }
      if (!waited) opts.onWait?.();
      waited = true;
      if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) {
        this.release();
        throw new KilnError('CONTAINER_LOCKED', `${this.what} is in use by another kiln command`, {
          hint: 'wait for that command to finish, or stop it',
        });
      }
      try {
        await sleep(POLL_MS, undefined, { signal: opts.signal });
      } catch (err) {
        this.release();
        throw err;
      }
    }
  }

  release(): void {
    if (this.db?.isOpen) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      this.db.close();
    }
    this.db = undefined;
  }
}
