/**
 * What kiln remembers to explain builds, in `history.db` under the state root (node:sqlite):
 * the latest record of each step (what its cache key was made of: op, inputs' keys, the files it
 * read as digests, never their content), which build made each cache key, and the recent builds
 * themselves (`kiln history`). Every table is bounded: the oldest rows go first.
 */
import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { sha256 } from '../digest/digest.ts';
import { openDatabase } from '../sys/sqlite.ts';

/** Ways to find a step's record kept (three a step: by position and inputs, by position, by op). */
export const MAX_STEP_ROWS = 6000;
/** Step records kept, and their bytes at most (the oldest go first). */
export const MAX_RECORDS = 2000;
export const MAX_RECORD_BYTES = 64 << 20;
/** Cache keys whose making build is remembered. */
export const MAX_KEY_ROWS = 20_000;
/** Builds kept for `kiln history` and `kiln report`. */
export const MAX_BUILDS = 50;
/** Files listed per step record; past it a step keeps only the digest of its whole list. */
export const MAX_FILES_PER_STEP = 1000;

/** One input of a step as recorded: its step name and cache key. */
export interface InputRecord {
  name: string;
  key: string;
  /** A directory source (the context): its content is in `files`, not compared as a key. */
  dir?: boolean;
}

/** What one step's cache key was made of when it last ran (~500 bytes + ~100 a file read). */
export interface StepRecord {
  name: string;
  key: string;
  /** sha256 of the op alone (its inputs excluded). */
  op: string;
  /** For a base image: the pinned reference it resolved to. */
  image?: string;
  inputs: InputRecord[];
  /** A RUN's environment (at most 64 variables, values cut at 200 characters). */
  env?: Record<string, string>;
  /** Which of `env` came from --build-arg. */
  argNames?: string[];
  /** Files read from directory inputs: path → `type mode digest` (at most MAX_FILES_PER_STEP). */
  files?: Record<string, string>;
  /** Set when the step read more files than were listed: their count and the whole list's digest. */
  filesTotal?: number;
  filesDigest?: string;
  /** Digest of the context's exclude patterns (.dockerignore) when it read one. */
  excludes?: string;
  build: string;
  at: number;
}

/**
 * Open history.db; a file SQLite cannot read (a machine crash while it was written without
 * fsync, or not a database) is set aside as `history.db.broken` and history starts anew.
 */
export function openHistory(file: string): ExplainStore {
  try {
    const db = new ExplainStore(file);
    db.check();
    return db;
  } catch (err) {
    const code = (err as { errcode?: number }).errcode;
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with their extended codes.
    if (code === undefined || ((code & 0xff) !== 11 && (code & 0xff) !== 26)) throw err;
    renameSync(file, `${file}.broken`);
    return new ExplainStore(file);
  }
}

export class ExplainStore {
  private readonly db: DatabaseSync;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = openDatabase(
      file,
      `CREATE TABLE IF NOT EXISTS steps (id TEXT PRIMARY KEY, rec TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS steps_at ON steps (at);
      CREATE TABLE IF NOT EXISTS records (rec TEXT PRIMARY KEY, value TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS records_at ON records (at);
      CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, build TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS keys_at ON keys (at);
      CREATE TABLE IF NOT EXISTS builds (id TEXT PRIMARY KEY, at INTEGER NOT NULL, value TEXT NOT NULL);`,
    );
    // History is derived, not state a build relies on: it is written without fsync (a warm
    // build's commit and close cost ~3 ms with it). A crash of the machine may lose the last
    // builds or leave the file unreadable; then it is set aside and started anew (openHistory).
    this.db.exec('PRAGMA synchronous = OFF');
  }

  /** Read from each table: a file that is not a database fails here, not in the middle of a build. */
  check(): void {
    for (const t of ['steps', 'records', 'keys', 'builds'])
      this.db.prepare(`SELECT 1 FROM ${t} LIMIT 1`).get();
  }

  step(id: string): StepRecord | undefined {
    const row = this.db
      .prepare('SELECT r.value FROM steps s JOIN records r ON r.rec = s.rec WHERE s.id = ?')
      .get(id) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as StepRecord) : undefined;
  }

  /** The build that made a cache key, and when. */
  origin(key: string): { build: string; at: number } | undefined {
    return this.db.prepare('SELECT build, at FROM keys WHERE key = ?').get(key) as
      | { build: string; at: number }
      | undefined;
  }

  /** Store the steps that ran (under each of their ids) and the keys they made, in one transaction. */
  putSteps(steps: { ids: string[]; record: StepRecord }[]): void {
    if (steps.length === 0) return;
    const putStep = this.db.prepare('INSERT OR REPLACE INTO steps (id, rec, at) VALUES (?, ?, ?)');
    const putRecord = this.db.prepare('INSERT OR REPLACE INTO records (rec, value, at) VALUES (?, ?, ?)');
    const putKey = this.db.prepare('INSERT OR REPLACE INTO keys (key, build, at) VALUES (?, ?, ?)');
    this.transaction(() => {
      for (const { ids, record } of steps) {
        // One copy of the record, found by each of its ids.
        const value = JSON.stringify(record);
        const rec = sha256(value);
        putRecord.run(rec, value, record.at);
        for (const id of ids) putStep.run(id, rec, record.at);
        putKey.run(record.key, record.build, record.at);
      }
      this.trim('steps', MAX_STEP_ROWS);
      this.trim('keys', MAX_KEY_ROWS);
      this.trimRecords();
    });
  }

  putBuild(id: string, at: number, value: unknown): void {
    this.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO builds (id, at, value) VALUES (?, ?, ?)')
        .run(id, at, JSON.stringify(value));
      this.trim('builds', MAX_BUILDS);
    });
  }

  /** Recent builds, newest first. */
  builds<T>(limit = MAX_BUILDS): T[] {
    return (
      this.db.prepare('SELECT value FROM builds ORDER BY at DESC LIMIT ?').all(limit) as { value: string }[]
    ).map((r) => JSON.parse(r.value) as T);
  }

  /** One build by id or unique id prefix. */
  build<T>(idOrPrefix: string): T | undefined {
    const rows = this.db
      .prepare("SELECT value FROM builds WHERE id LIKE ? ESCAPE '\\' LIMIT 2")
      .all(`${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as { value: string }[];
    return rows.length === 1 ? (JSON.parse(rows[0].value) as T) : undefined;
  }

  close(): void {
    this.db.close();
  }

  /** Records no step id finds any more go; then the oldest, past the count or the bytes. */
  private trimRecords(): void {
    this.db.exec('DELETE FROM records WHERE rec NOT IN (SELECT rec FROM steps)');
    this.trim('records', MAX_RECORDS);
    let { bytes } = this.db.prepare('SELECT coalesce(sum(length(value)), 0) AS bytes FROM records').get() as {
      bytes: number;
    };
    while (bytes > MAX_RECORD_BYTES) {
      const old = this.db
        .prepare('SELECT rec, length(value) AS n FROM records ORDER BY at LIMIT 1')
        .get() as {
        rec: string;
        n: number;
      };
      this.db.prepare('DELETE FROM records WHERE rec = ?').run(old.rec);
      this.db.prepare('DELETE FROM steps WHERE rec = ?').run(old.rec);
      bytes -= old.n;
    }
  }

  private trim(table: 'steps' | 'keys' | 'builds' | 'records', max: number): void {
    const row = this.db.prepare(`SELECT at FROM ${table} ORDER BY at DESC LIMIT 1 OFFSET ?`).get(max) as
      | { at: number }
      | undefined;
    if (row) this.db.prepare(`DELETE FROM ${table} WHERE at <= ?`).run(row.at);
  }

  private transaction(fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }
}
