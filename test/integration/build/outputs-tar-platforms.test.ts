/**
 * `--output type=tar` with several platforms: one tar whose top level is a directory per
 * platform (`linux_amd64/`, `linux_arm64/`), as BuildKit's tar exporter writes it, judged by GNU
 * tar. arm64 runs through QEMU, as in the other multi-platform builds of this suite.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDockerfile, openSuite, read, type Suite, scratch } from './helpers.ts';

let suite: Suite;
before(async () => {
  assert.equal(spawnSync('which', ['tar']).status, 0, 'GNU tar judges the output: run bash scripts/setup.sh');
  suite = await openSuite('outputs-tar-platforms');
});
after(() => suite.close());

function tar(args: string[]): string {
  return execFileSync('tar', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
}

describe('type=tar with several platforms', () => {
  it('writes one tar with a directory per platform, each holding that platform’s filesystem', async () => {
    const dir = await scratch(suite, 'tar-platforms');
    const dest = join(dir, 'out.tar');
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ARG TARGETARCH
RUN echo "$TARGETARCH $(uname -m)" > /arch && ln /arch /arch-link
COPY file.txt /file.txt
`,
      { 'file.txt': 'from the context\n' },
      {
        output: [`type=tar,dest=${dest}`],
        noLocal: true,
        platforms: [
          { os: 'linux', architecture: 'arm64' },
          { os: 'linux', architecture: 'amd64' },
        ],
      },
    );
    assert.equal(b.result.platforms.length, 2);

    const names = tar(['-tf', dest]).split('\n').filter(Boolean);
    const top = [...new Set(names.map((n) => n.replace(/^\.\//, '').split('/')[0]))];
    assert.deepEqual(top, ['linux_amd64', 'linux_arm64'], 'the top level is one directory per platform');
    // Each platform directory is itself an entry (a 0755 directory owned by root), before its contents.
    const verbose = tar(['-tvf', dest, '--numeric-owner']).split('\n');
    for (const p of ['linux_amd64/', 'linux_arm64/']) {
      const line = verbose.find((l) => l.endsWith(` ${p}`));
      assert.ok(line, `no entry for ${p}`);
      assert.match(line, /^drwxr-xr-x 0\/0 /);
    }

    assert.equal(tar(['-xOf', dest, 'linux_amd64/arch']), 'amd64 x86_64\n');
    assert.equal(tar(['-xOf', dest, 'linux_arm64/arch']), 'arm64 aarch64\n');
    assert.equal(tar(['-xOf', dest, 'linux_arm64/file.txt']), 'from the context\n');

    // Extracted by GNU tar, hardlinks point inside their own platform directory.
    const out = join(dir, 'x');
    execFileSync('mkdir', ['-p', out]);
    tar(['-xf', dest, '-C', out]);
    for (const p of ['linux_amd64', 'linux_arm64']) {
      assert.equal(statSync(join(out, p, 'arch-link')).ino, statSync(join(out, p, 'arch')).ino);
      assert.ok(statSync(join(out, p, 'bin/busybox')).isFile());
    }
    assert.equal(read(out, 'linux_amd64/arch-link'), 'amd64 x86_64\n');
  });
});
