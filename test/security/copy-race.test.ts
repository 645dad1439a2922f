/**
 * COPY against a context that changes under it: another process flips a context file (or a
 * directory, or a parent directory) between the real thing and a symlink to a host path while
 * builds run. A build may fail, clearly, or copy the context's own bytes; host content never
 * enters an image, and the sentinel stays untouched.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildContext, makeContext, openSuite, type Suite } from '../integration/build/helpers.ts';
import { makeSentinel, SECRET, type Sentinel } from './sentinel.ts';

const ROUNDS = Number(process.env.KILN_RACE_ROUNDS ?? 12);

let suite: Suite;
let sentinel: Sentinel;
before(async () => {
  suite = await openSuite('sec-copy-race');
  sentinel = makeSentinel(join(suite.dir, 'sentinel'));
});
after(() => suite.close());

/**
 * Start a process that keeps replacing `ctx/name` by a symlink to `target` and back by what
 * `make` (a JS expression run in the child, with `p` the temp path) creates, each by rename.
 */
let flips = 0;
function flip(dir: string, name: string, target: string, make: string): ChildProcess {
  // The temporary names live outside the context: a build walking it sees only the real names.
  const tmp = join(suite.dir, `flip-${++flips}`);
  const script = `
    const fs = require('node:fs'); const path = require('node:path');
    const dst = path.join(${JSON.stringify(dir)}, ${JSON.stringify(name)});
    const tl = ${JSON.stringify(tmp)} + '-l', tr = ${JSON.stringify(tmp)} + '-r';
    const hold = (ms) => { const until = Date.now() + ms; while (Date.now() < until); };
    // rename replaces a file or symlink atomically; a directory has to go first.
    const put = (from) => { try { fs.renameSync(from, dst); } catch { fs.rmSync(dst, { recursive: true, force: true }); fs.renameSync(from, dst); } };
    for (;;) {
      // The real thing most of the time, the symlink now and then: a build must see the file
      // while it checks and the link while it reads to be fooled.
      try { fs.rmSync(tr, { recursive: true, force: true }); const p = tr; ${make}; put(tr); } catch {}
      hold(Math.random() * 12);
      try { fs.rmSync(tl, { force: true }); fs.symlinkSync(${JSON.stringify(target)}, tl); put(tl); } catch {}
      hold(Math.random() * 4);
    }`;
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

/** Every regular file's content in an exported tree. */
function contents(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(`${e.name}=${readFileSync(p, 'utf8')}`);
    }
  };
  walk(dir);
  return out;
}

async function race(dockerfile: string, setup: (ctx: string) => Promise<ChildProcess>, out: string) {
  const ctx = await makeContext(suite, { Dockerfile: dockerfile });
  const flipper = await setup(ctx);
  const outcomes: string[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      try {
        const b = await buildContext(suite, ctx, { noCache: true });
        const got = contents(join(b.fs, out));
        for (const c of got)
          assert.doesNotMatch(c, new RegExp(SECRET), `round ${i}: host content in the image`);
        // Only the context's own names: the sentinel's (secret, hosts, b, …) never.
        for (const c of got) assert.match(c, /^[a-z0-9]+=ctx$/, `round ${i}: unexpected file ${c}`);
        outcomes.push('ok');
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_ASSERTION') throw err;
        // A failure is a KilnError with a code, never a raw system error or a crash.
        outcomes.push(
          (err as Error).name === 'KilnError'
            ? String((err as { code?: string }).code)
            : `raw:${(err as Error).stack}`,
        );
      }
    }
  } finally {
    flipper.kill('SIGKILL');
  }
  sentinel.assertUntouched();
  for (const o of outcomes) assert.match(o, /^(ok|[A-Z_]+)$/, `outcomes: ${outcomes.join(' ')}`);
  return outcomes;
}

describe('COPY while the context changes', () => {
  it('a file flipped to a symlink to a host file never copies the host file', async () => {
    const outcomes = await race(
      'FROM busybox\nCOPY f /out/f\n',
      async (ctx) => {
        await writeFile(join(ctx, 'f'), 'ctx');
        return flip(ctx, 'f', join(sentinel.dir, 'secret'), "fs.writeFileSync(p, 'ctx')");
      },
      'out',
    );
    assert.equal(outcomes.length, ROUNDS);
  });

  it('a file among many in a copied directory, flipped to a symlink to a host file, never copies it', async () => {
    // The copy walks first and copies later (eight files at a time): the flip lands in between.
    await race(
      'FROM busybox\nCOPY d /out/\n',
      async (ctx) => {
        await mkdir(join(ctx, 'd'));
        for (let i = 0; i < 1000; i++) await writeFile(join(ctx, 'd', `n${i}`), 'ctx');
        await writeFile(join(ctx, 'd', 'zz'), 'ctx');
        return flip(join(ctx, 'd'), 'zz', join(sentinel.dir, 'secret'), "fs.writeFileSync(p, 'ctx')");
      },
      'out',
    );
  });

  it('a directory flipped to a symlink to a host directory never copies host files', async () => {
    await race(
      'FROM busybox\nCOPY d /out/\n',
      async (ctx) => {
        await mkdir(join(ctx, 'd'));
        await writeFile(join(ctx, 'd', 'x'), 'ctx');
        return flip(ctx, 'd', sentinel.dir, "fs.mkdirSync(p); fs.writeFileSync(path.join(p, 'x'), 'ctx')");
      },
      'out',
    );
  });

  it('a parent directory flipped under a copied tree never copies host files', async () => {
    await race(
      'FROM busybox\nCOPY . /out/\n',
      async (ctx) => {
        await mkdir(join(ctx, 'p', 'q'), { recursive: true });
        await writeFile(join(ctx, 'p', 'q', 'x'), 'ctx');
        await writeFile(join(ctx, '.dockerignore'), 'Dockerfile\n.dockerignore\n');
        return flip(
          join(ctx, 'p'),
          'q',
          sentinel.dir,
          "fs.mkdirSync(p); fs.writeFileSync(path.join(p, 'x'), 'ctx')",
        );
      },
      'out',
    );
  });
});
