/**
 * Mounting on the host (src/snapshot/mount.ts): through the mount server (perl making mount(2)
 * and umount2(2), src/sys/mountserver.ts) and, on a host without perl, through mount(8) and
 * umount(8). Each scenario runs in a child node: one with this PATH, one whose PATH holds only
 * mount and umount, so that no perl is found. Needs root (CAP_SYS_ADMIN).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const MOUNT = JSON.stringify(import.meta.resolve('../../../src/snapshot/mount.ts'));
const SERVER = JSON.stringify(import.meta.resolve('../../../src/sys/mountserver.ts'));

let scratch = '';
/** A PATH directory with mount(8) and umount(8) and nothing else (no perl). */
let noPerl = '';

before(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests mount filesystems: run them as root');
  scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-mount-test-'));
  noPerl = path.join(scratch, 'bin');
  mkdirSync(noPerl);
  for (const tool of ['mount', 'umount']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    assert.ok(found, `${tool} is not installed`);
    symlinkSync(found, path.join(noPerl, tool));
  }
});

after(() => {
  // Anything a failed test left mounted under the scratch directory goes first, never through.
  const points = mountPoints().filter((p) => p.startsWith(`${scratch}/`));
  for (const p of points.reverse()) spawnSync('umount', ['-l', p]);
  if (mountPoints().some((p) => p.startsWith(`${scratch}/`))) throw new Error(`mounts left under ${scratch}`);
  rmSync(scratch, { recursive: true, force: true });
});

/** Mount points per /proc/self/mountinfo, unescaped, in mount order. */
function mountPoints(): string[] {
  return mountinfo().map((l) => l.point);
}

function mountinfo(): { point: string; options: string[]; superOptions: string[] }[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      const dash = f.indexOf('-');
      return {
        point: f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
        options: f[5].split(','),
        superOptions: f[dash + 3].split(','),
      };
    });
}

function mountOf(point: string) {
  return mountinfo()
    .filter((m) => m.point === point)
    .at(-1);
}

/** Run `body` (an async module body with `mountAll`, `unmount`, `calls` in scope) in a child node. */
async function child(
  body: string,
  pathVar: string,
): Promise<{ out: string; code: number | null; hung: boolean }> {
  const script = `import { mountAll, unmount } from ${MOUNT};\nimport * as calls from ${SERVER};\n${body}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: pathVar },
  });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill('SIGKILL');
  }, 10_000);
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (t: string) => {
    out += t;
  });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (t: string) => {
    err += t;
  });
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  clearTimeout(timer);
  if (code !== 0 && !hung) throw new Error(`child failed (${code}):\n${err}`);
  return { out, code, hung };
}

const WAYS = [
  { name: 'the mount server', path: () => process.env.PATH ?? '/usr/bin:/bin', server: true },
  { name: 'mount(8), no perl on PATH', path: () => noPerl, server: false },
];

for (const way of WAYS) {
  describe(`mounting through ${way.name}`, { timeout: 30_000 }, () => {
    test('the way is the one named', async () => {
      const { out } = await child('console.log(calls.available());', way.path());
      assert.equal(out.trim(), String(way.server));
    });

    test('a tmpfs gets its flags and its own options, and is gone once unmounted', async () => {
      const dir = mkdtempSync(path.join(scratch, 'tmpfs-'));
      const mount = {
        type: 'tmpfs',
        source: 'kilntest',
        options: ['nosuid', 'nodev', 'noexec', 'size=1m', 'mode=0711'],
      };
      await child(`await mountAll([${JSON.stringify(mount)}], ${JSON.stringify(dir)});`, way.path());
      const m = mountOf(dir);
      assert.ok(m, `${dir} is not mounted`);
      for (const o of ['nosuid', 'nodev', 'noexec'])
        assert.ok(m.options.includes(o), `${o} missing: ${m.options}`);
      assert.ok(m.superOptions.includes('size=1024k'), `size missing: ${m.superOptions}`);
      assert.ok(m.superOptions.includes('mode=711'), `mode missing: ${m.superOptions}`);
      await child(
        `await unmount(${JSON.stringify(dir)}); await unmount(${JSON.stringify(dir)});`,
        way.path(),
      );
      assert.equal(mountOf(dir), undefined, 'still mounted after unmount');
    });

    test('a read-only bind is read-only and keeps the nosuid of what it binds', async () => {
      const src = mkdtempSync(path.join(scratch, 'src-'));
      const dst = mkdtempSync(path.join(scratch, 'dst-'));
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,size=1m', 'kilntest', src]);
      try {
        await child(
          `await mountAll([{ type: 'bind', source: ${JSON.stringify(src)}, options: ['rbind', 'ro'] }], ${JSON.stringify(dst)});`,
          way.path(),
        );
        const m = mountOf(dst);
        assert.ok(m, `${dst} is not mounted`);
        assert.ok(m.options.includes('ro') && m.options.includes('nosuid'), `options: ${m.options}`);
        assert.throws(() => mkdirSync(path.join(dst, 'x')), { code: 'EROFS' });
        await child(`await unmount(${JSON.stringify(dst)});`, way.path());
        assert.equal(mountOf(dst), undefined);
      } finally {
        spawnSync('umount', ['-l', dst]);
        spawnSync('umount', ['-l', src]);
      }
    });

    test('a path reaches the kernel byte for byte', async () => {
      const dir = path.join(scratch, `odd ${way.server ? 's' : 'c'} it's "x" \\ ü $(touch x)`);
      mkdirSync(dir);
      await child(
        `await mountAll([{ type: 'tmpfs', source: 'kilntest', options: ['size=1m'] }], ${JSON.stringify(dir)});`,
        way.path(),
      );
      assert.ok(mountOf(dir), `${dir} is not mounted`);
      await child(`await unmount(${JSON.stringify(dir)});`, way.path());
      assert.equal(mountOf(dir), undefined);
    });

    test("the kernel's refusal is a MOUNT_FAILED naming the reason", async () => {
      const missing = path.join(scratch, 'no-such-dir');
      const { out } = await child(
        `try { await mountAll([{ type: 'tmpfs', source: 'kilntest', options: [] }], ${JSON.stringify(missing)}); console.log('mounted'); }
         catch (e) { console.log(e.code + ' ' + e.message); }`,
        way.path(),
      );
      assert.match(
        out,
        /^MOUNT_FAILED cannot mount tmpfs kilntest on .*no-such-dir: .*(ENOENT|No such file|does not exist)/,
      );
    });
  });
}

describe('the mount server', { timeout: 30_000 }, () => {
  test('unmounting a symlink leaves the mount it points at (a sentinel outside)', async () => {
    const outside = mkdtempSync(path.join(scratch, 'outside-'));
    const link = path.join(mkdtempSync(path.join(scratch, 'root-')), 'rootfs');
    symlinkSync(outside, link);
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'kilntest', outside]);
    try {
      await child(`await unmount(${JSON.stringify(link)});`, process.env.PATH ?? '');
      assert.ok(mountOf(outside), 'the mount behind the symlink was removed');
    } finally {
      spawnSync('umount', ['-l', outside]);
    }
  });

  test('a path holding a byte that is not UTF-8 is mounted at those very bytes', async () => {
    const dir = Buffer.concat([Buffer.from(path.join(scratch, 'raw-')), Buffer.of(0xff)]);
    mkdirSync(dir);
    // kiln holds such a byte as U+DC00+byte (src/sys/fsname.ts).
    const name = JSON.stringify(`${path.join(scratch, 'raw-')}\udcff`);
    const mounted = () =>
      readFileSync('/proc/self/mountinfo').includes(Buffer.concat([dir, Buffer.from(' ')]));
    await child(
      `await mountAll([{ type: 'tmpfs', source: 'kilntest', options: ['size=1m'] }], ${name});`,
      process.env.PATH ?? '',
    );
    assert.ok(mounted(), 'not mounted at the bytes');
    await child(`await unmount(${name});`, process.env.PATH ?? '');
    assert.ok(!mounted(), 'still mounted');
  });

  test('it keeps no process alive and ends with kiln', async () => {
    const dir = mkdtempSync(path.join(scratch, 'alive-'));
    const { out, hung } = await child(
      `await mountAll([{ type: 'tmpfs', source: 'kilntest', options: [] }], ${JSON.stringify(dir)});
       await unmount(${JSON.stringify(dir)}); console.log(calls.mountServerPid());`,
      process.env.PATH ?? '',
    );
    assert.equal(hung, false, 'the mount server kept the process alive');
    const pid = Number(out.trim());
    assert.ok(pid > 0, `no server pid: ${out}`);
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      alive = spawnSync('kill', ['-0', String(pid)]).status === 0 && !isZombie(pid);
      if (alive) await sleep(50);
    }
    assert.equal(alive, false, `the mount server ${pid} outlived kiln`);
  });

  test('a server that dies fails its call, and the next call starts a new one', async () => {
    const dir = mkdtempSync(path.join(scratch, 'again-'));
    const { out } = await child(
      `await calls.umount('/nonexistent-kiln', 0).catch(() => {});
       const first = calls.mountServerPid();
       process.kill(first, 'SIGKILL');
       await new Promise((r) => setTimeout(r, 200));
       await mountAll([{ type: 'tmpfs', source: 'kilntest', options: [] }], ${JSON.stringify(dir)});
       console.log(first !== calls.mountServerPid() ? 'new' : 'same');
       await unmount(${JSON.stringify(dir)});`,
      process.env.PATH ?? '',
    );
    assert.equal(out.trim(), 'new');
    assert.equal(mountOf(dir), undefined);
  });
});

function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
