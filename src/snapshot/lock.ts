/**
 * The lock that snapshot removals and hold checks take, across processes: SQLite's write lock on
 * `<root>/lock.db` (Node has no flock(2)). The kernel drops it when its holder dies, so a killed
 * process never leaves it taken; a transaction that changes nothing writes nothing.
 */
import { DatabaseSync } from 'node:sqlite';
import { execRetrying } from '../sys/sqlite.ts';

const WAIT_MS = 30_000;

export class SnapshotLock {
  readonly file: string;
  private db?: DatabaseSync;

  constructor(file: string) {
    this.file = file;
  }

  /** Run `fn` holding the lock; `fn` must not yield (it is synchronous). */
  run<T>(fn: () => T): T {
    this.db ??= new DatabaseSync(this.file, { timeout: WAIT_MS });
    execRetrying(this.db, 'BEGIN IMMEDIATE', WAIT_MS);
    try {
      return fn();
    } finally {
      this.db.exec('COMMIT');
    }
  }

  close(): void {
    if (this.db?.isOpen) this.db.close();
    this.db = undefined;
  }
}
