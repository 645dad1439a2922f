/**
 * COPY/ADD sources that match nothing, end to end, with the outcomes Docker 20.10's BuildKit gives
 * for the same Dockerfiles: a wildcard may match nothing in a directory that exists, but a
 * wildcard whose directory is missing (or kept out by .dockerignore) and a plain missing path fail,
 * naming the source and the Dockerfile line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDockerfile, buildError, exists, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('copy-missing');
});
after(async () => {
  await suite.close();
});

const FILES = { 'a.txt': 'a', 'dir/b.txt': 'b' };
// A stage holding the same files, for COPY --from.
const STAGE = 'FROM scratch AS files\nCOPY a.txt /a.txt\nCOPY dir /dir/\n';

interface Case {
  line: string;
  /** The source pattern the error names, or null when the build succeeds. */
  fails: string | null;
  ignore?: string;
}

const CASES: Case[] = [
  { line: 'COPY missing/* /x/', fails: 'missing/*' },
  { line: 'COPY missing/sub/*.txt /x/', fails: 'missing/sub/*.txt' },
  { line: 'COPY a.txt missing/* /x/', fails: 'missing/*' },
  { line: 'COPY dir/*.nomatch /x/', fails: null },
  { line: 'COPY *.nomatch /x/', fails: null },
  { line: 'COPY a.txt *.nomatch /x/', fails: null },
  { line: 'COPY nofile /x/', fails: 'nofile' },
  { line: 'ADD missing/* /x/', fails: 'missing/*' },
  { line: 'ADD dir/*.nomatch /x/', fails: null },
  { line: 'ADD *.nomatch /x/', fails: null },
  { line: 'ADD nofile /x/', fails: 'nofile' },
  { line: 'COPY --from=files /missing/* /x/', fails: '/missing/*' },
  { line: 'COPY --from=files /dir/*.nomatch /x/', fails: null },
  { line: 'COPY --from=files /*.nomatch /x/', fails: null },
  { line: 'COPY --from=files /nofile /x/', fails: '/nofile' },
  // BuildKit never receives a directory .dockerignore excludes; one with every child excluded is sent empty.
  { line: 'COPY dir/*.nomatch /x/', ignore: 'dir\n', fails: 'dir/*.nomatch' },
  { line: 'COPY dir/* /x/', ignore: 'dir/*\n', fails: null },
];

describe('a file before the wildcard (as BuildKit)', () => {
  it('COPY a.txt/* from the context fails: the context has no directory a.txt', async () => {
    const err = await buildError(suite, 'FROM scratch\nCOPY a.txt/* /x/\n', FILES);
    assert.equal(err.code, 'COPY_SOURCE_NOT_A_DIRECTORY', err.message);
    assert.match(err.message, /a\.txt\/\*: a\.txt is not a directory/);
    assert.equal(err.location?.startLine, 2);
  });

  it('COPY --from=stage /a.txt/* matches nothing and succeeds', async () => {
    const b = await buildDockerfile(suite, `${STAGE}FROM scratch\nCOPY --from=files /a.txt/* /x/\n`, FILES);
    assert.ok(!exists(b.fs, 'x'));
  });
});

describe('COPY and ADD sources that match nothing (as BuildKit)', () => {
  for (const c of CASES) {
    const name = `${c.line}${c.ignore ? ` with .dockerignore ${JSON.stringify(c.ignore.trim())}` : ''}`;
    const files = { ...FILES, ...(c.ignore ? { '.dockerignore': c.ignore } : {}) };
    // The instruction under test is on line 5 of every Dockerfile.
    const dockerfile = `${STAGE}FROM scratch\n${c.line}\n`;
    if (c.fails === null) {
      it(`${name} succeeds`, async () => {
        const b = await buildDockerfile(suite, dockerfile, files);
        if (c.line.includes('a.txt ')) assert.equal(read(b.fs, 'x/a.txt'), 'a');
        else assert.ok(!exists(b.fs, 'x'), 'nothing was to be copied, not even the destination directory');
      });
    } else {
      const pattern = c.fails;
      it(`${name} fails naming ${pattern} and line 5`, async () => {
        const err = await buildError(suite, dockerfile, files);
        assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND', err.message);
        assert.ok(err.message.includes(`${pattern}: not found`), err.message);
        assert.equal(err.location?.startLine, 5);
        assert.match(String(err.location?.file), /Dockerfile$/);
      });
    }
  }
});
