/**
 * Opening kiln's SQLite databases (metadata, build cache, file digests) so that several kiln
 * processes can start on one state root at once: the busy timeout is set before the first
 * statement, and set-up SQL is retried while another process holds the database, because SQLite
 * does not call the busy handler in every case (switching a fresh file to WAL, upgrading a read
 * lock to a write lock); concurrent builds on a fresh root failed at once with "database is locked".
 */
import { DatabaseSync } from 'node:sqlite';
import { isDiskFull } from '../errors/errors.ts';

/**
 * Open `file` in WAL mode and run `schema` (idempotent DDL) in one immediate transaction. On a
 * full disk WAL's shared-memory file cannot grow and every open failed, `kiln prune` included:
 * then the database is opened in exclusive locking mode, which keeps that index in memory (other
 * processes wait for this one), so reading and freeing space still work.
 */
export function openDatabase(file: string, schema: string, timeoutMs = 10_000): DatabaseSync {
  try {
    return openWith(file, schema, timeoutMs, '');
  } catch (err) {
    if (!isDiskFull(err)) throw err;
    return openWith(file, schema, timeoutMs, 'PRAGMA locking_mode = EXCLUSIVE; ');
  }
}

function openWith(file: string, schema: string, timeoutMs: number, pragmas: string): DatabaseSync {
  const db = new DatabaseSync(file, { timeout: timeoutMs });
  try {
    execRetrying(db, `${pragmas}PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`, timeoutMs);
    execRetrying(db, `BEGIN IMMEDIATE; ${schema}; COMMIT;`, timeoutMs);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function execRetrying(db: DatabaseSync, sql: string, timeoutMs: number): void {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      db.exec(sql);
      return;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      if (!/locked|busy/i.test((err as Error).message) || Date.now() > until) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 20);
    }
  }
}
