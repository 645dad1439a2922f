import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execShort, forkServerDir, NOT_FOUND, runShort } from './forkserver.ts';

const MODULE = JSON.stringify(import.meta.resolve('./forkserver.ts'));

/** Each test here takes well under a second; a hang fails it instead of the run. */
const QUICK = { timeout: 10_000 };

/** Run `fn` with a scratch directory of its own, removed afterwards. */
async function withScratch(fn: (scratch: string) => Promise<void>): Promise<void> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-forks-test-'));
  try {
    await fn(scratch);
  } finally {
    rmSync(scratch, { recursive: true });
  }
}

test('an argument reaches the program byte for byte, none of it read by the shell', QUICK, () =>
  withScratch(async (scratch) => {
    const sentinel = path.join(scratch, 'sentinel');
    const args = [
      'a b',
      "it's",
      `$(touch ${sentinel})`,
      `\`touch ${sentinel}\``,
      `'; touch ${sentinel}; '`,
      '*',
      'line\nbreak',
      '"\\',
      'ü',
      '',
      '-',
    ];
    const r = await runShort('printf', ['%s\\0', ...args]);
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), args);
    assert.equal(existsSync(sentinel), false, 'the shell ran part of an argument');
    await assert.rejects(runShort('printf', ['a\0b']), /NUL/);
  }),
);

test(
  'a command gets its directory and input; its output, errors and status come back apart',
  QUICK,
  async () => {
    assert.equal((await runShort('pwd', [], { cwd: '/etc' })).stdout.toString(), '/etc\n');
    assert.equal(
      (await runShort('cat', [], { input: Buffer.from([0, 1, 255]) })).stdout.toString('hex'),
      '0001ff',
    );
    assert.equal((await runShort('cat', [])).stdout.length, 0, 'no input: /dev/null');
    const r = await runShort('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.stdout.toString(), r.stderr.toString(), r.status], ['out\n', 'err\n', 3]);
    assert.equal((await runShort('kiln-no-such-program', [])).status, NOT_FOUND);
    await assert.rejects(
      execShort('sh', ['-c', 'echo why >&2; exit 32']),
      (err: Error & { code?: number; stderr?: string }) => {
        assert.equal(err.code, 32);
        assert.equal(err.stderr, 'why\n');
        return true;
      },
    );
  },
);

test('commands run side by side: one can wait for another started after it', QUICK, () =>
  withScratch(async (scratch) => {
    const flag = path.join(scratch, 'flag');
    const waiter = runShort('sh', ['-c', 'while [ ! -e "$1" ]; do sleep 0.02; done; echo seen', 'sh', flag]);
    await sleep(100);
    await runShort('touch', [flag]);
    assert.equal((await waiter).stdout.toString(), 'seen\n');
  }),
);

test('a shell that dies fails its commands, and the next command starts a new one', QUICK, async () => {
  // The command's parent is the shell's background job; that job's parent is the server.
  const killer = runShort('sh', ['-c', 'kill -KILL $(ps -o ppid= -p $PPID); sleep 5']);
  const dir = forkServerDir();
  await assert.rejects(killer, /fork server's shell ended/);
  assert.ok(dir && (await gone(dir)), `the killed shell's directory ${dir} is still there`);
  assert.equal((await runShort('echo', ['again'])).stdout.toString(), 'again\n');
});

/**
 * Run `body` in a child node that imports the fork server: its stdout lines, and whether it had
 * to be killed for not exiting within 5 s.
 */
async function child(
  body: string,
  onLine?: (line: string, proc: ReturnType<typeof spawn>) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ lines: string[]; hung: boolean }> {
  const script = `import { runShort, forkServerDir } from ${MODULE};\n${body}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill('SIGKILL');
  }, 5000);
  const lines: string[] = [];
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (text: string) => {
    for (const line of text.split('\n').filter(Boolean)) {
      lines.push(line);
      onLine?.(line, proc);
    }
  });
  await new Promise((resolve) => proc.on('close', resolve));
  clearTimeout(timer);
  return { lines, hung };
}

async function gone(dir: string): Promise<boolean> {
  for (let i = 0; i < 100 && existsSync(dir); i++) await sleep(50);
  return !existsSync(dir);
}

test('the shell keeps no process alive and leaves nothing behind when it exits', {
  timeout: 15_000,
}, async () => {
  // Without unreferenced pipes the child would never exit and the test would time out.
  const { lines, hung } = await child(`await runShort('true', []); console.log(forkServerDir());`);
  assert.equal(hung, false, 'the fork server kept the process alive');
  const [dir] = lines;
  assert.match(dir, /kiln-forks-/);
  assert.ok(await gone(dir), `${dir} is still there`);
});

test('the shell removes its directory even under a PATH without rm', { timeout: 15_000 }, async () => {
  // `true` is the shell's own; the EXIT trap's rm is found through the shell's default PATH.
  const { lines } = await child(`await runShort('true', []); console.log(forkServerDir());`, undefined, {
    ...process.env,
    PATH: '/nonexistent-kiln-path',
  });
  const [dir] = lines;
  assert.match(dir, /kiln-forks-/);
  assert.ok(await gone(dir), `${dir} is still there`);
});

test('a process killed while a command runs leaves nothing behind once the command ends', {
  timeout: 15_000,
}, async () => {
  let dir = '';
  await child(
    `const p = runShort('sleep', ['0.5']); console.log(forkServerDir()); await p;`,
    (line, proc) => {
      dir = line;
      proc.kill('SIGKILL');
    },
  );
  assert.match(dir, /kiln-forks-/);
  assert.ok(await gone(dir), `${dir} is still there`);
});
