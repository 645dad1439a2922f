/**
 * RUN --mount sources and the mount points kiln makes never reach the host: a bind source that is
 * a symlink (planted by another stage, the context or a base image's ONBUILD trigger) resolves
 * inside its own root, and the cleanup after a run never follows a symlink the container planted
 * (the pattern of CVE-2024-23652). Every case keeps a sentinel directory outside the root
 * byte-identical.
 */
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
} from '../integration/build/helpers.ts';
import { makeSentinel, SECRET, type Sentinel } from './sentinel.ts';

let suite: Suite;
let sentinels = 0;
before(async () => {
  suite = await openSuite('sec-mounts');
});
/** A fresh sentinel per case, so each case fails (or passes) on its own. */
const fresh = (): Sentinel => makeSentinel(join(suite.dir, `sentinel-${++sentinels}`));
after(() => suite.close());

/** A build that either fails or succeeds, and whose exported files are returned when it did. */
async function attempt(
  dockerfile: string,
  files: Record<string, string> = {},
  links: Record<string, string> = {},
) {
  const ctx = await makeContext(suite, { Dockerfile: dockerfile, ...files });
  for (const [name, target] of Object.entries(links)) await symlink(target, join(ctx, name));
  try {
    const b = await buildContext(suite, ctx, { allow: [] });
    return { ok: true as const, fs: b.fs, logs: b.logs };
  } catch (err) {
    return { ok: false as const, err: err as Error & { code?: string } };
  }
}

describe('bind mount sources resolve inside their own root', () => {
  it('a symlink to a host directory in another stage, mounted rw, cannot write to the host', async () => {
    const sentinel = fresh();
    const r = await attempt(
      `FROM busybox AS evil\nRUN ln -s ${sentinel.dir} /sent\n` +
        'FROM busybox\n' +
        'RUN --mount=type=bind,from=evil,source=/sent,target=/x,rw ' +
        'sh -c "echo pwned > /x/new; rm -rf /x/b /x/secret; touch /x/hosts; ls -la /x > /out 2>&1; true"\n',
    );
    sentinel.assertUntouched();
    // The link's target does not exist inside the evil stage: the mount fails clearly.
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.err.code, 'MOUNT_SOURCE_MISSING');
  });

  it('a symlink to a host directory in another stage, mounted read-only, shows no host file', async () => {
    const sentinel = fresh();
    const r = await attempt(
      `FROM busybox AS evil\nRUN mkdir -p /inside${sentinel.dir} && echo decoy > /inside${sentinel.dir}/secret && ln -s ${sentinel.dir} /sent\n` +
        'FROM busybox\n' +
        'RUN --mount=type=bind,from=evil,source=/sent,target=/x cat /x/secret > /out\n',
    );
    sentinel.assertUntouched();
    // /sent -> <sentinel> resolves to <sentinel> inside the evil stage's rootfs, which does not
    // hold it either (only /inside<sentinel> does): nothing to mount.
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.err.code, 'MOUNT_SOURCE_MISSING');
  });

  it('a link that resolves inside the stage mounts the stage file, not the host one', async () => {
    const sentinel = fresh();
    const r = await attempt(
      `FROM busybox AS evil\nRUN mkdir -p ${sentinel.dir} && echo decoy > ${sentinel.dir}/secret && ln -s ${sentinel.dir} /sent\n` +
        'FROM busybox\n' +
        'RUN --mount=type=bind,from=evil,source=/sent,target=/x,rw sh -c "cat /x/secret > /out; echo w > /x/written"\n',
    );
    sentinel.assertUntouched();
    assert.ok(r.ok, r.ok ? '' : r.err.message);
    assert.equal(read(r.fs, 'out'), 'decoy\n');
  });

  it('a context symlink to / mounted rw cannot reach the host root', async () => {
    const sentinel = fresh();
    const r = await attempt(
      'FROM busybox\n' +
        `RUN --mount=type=bind,source=rootlink,target=/x,rw sh -c "cat /x${sentinel.dir}/secret > /out 2>&1; echo pwned > /x${sentinel.dir}/new 2>&1; ls /x > /list; true"\n`,
      { 'keep.txt': 'k' },
      { rootlink: '/' },
    );
    sentinel.assertUntouched();
    assert.ok(r.ok, r.ok ? '' : r.err.message);
    // `/` inside the context is the context itself.
    assert.doesNotMatch(read(r.fs, 'out'), new RegExp(SECRET));
    assert.match(read(r.fs, 'list'), /keep\.txt/);
  });

  it('a context symlink to a host directory as the source is not found', async () => {
    const sentinel = fresh();
    const r = await attempt(
      'FROM busybox\nRUN --mount=type=bind,source=hostdir,target=/x cat /x/secret > /out\n',
      {},
      { hostdir: sentinel.dir },
    );
    sentinel.assertUntouched();
    assert.equal(r.ok, false);
    // The content checksum looks first and finds nothing inside the context.
    assert.match(String(r.ok === false && r.err.code), /^(MOUNT_SOURCE_MISSING|COPY_SOURCE_NOT_FOUND)$/);
  });

  it("an ONBUILD trigger in a base image cannot mount the host through the base's own symlink", async () => {
    const sentinel = fresh();
    const base = await buildDockerfile(
      suite,
      `FROM busybox\nRUN ln -s ${sentinel.dir} /sent\n` +
        `ONBUILD RUN --mount=type=bind,from=kiln-sec/onbuild-base,source=/sent,target=/x,rw sh -c "echo pwned > /x/new; rm -rf /x/b; cat /x/secret > /out; true"\n`,
      {},
      { tags: ['kiln-sec/onbuild-base'] },
    );
    assert.ok(base.result.root);
    const r = await attempt('FROM kiln-sec/onbuild-base\nRUN true\n');
    sentinel.assertUntouched();
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.err.code, 'MOUNT_SOURCE_MISSING');
  });

  it('a source below a symlinked directory of a stage does not reach the host', async () => {
    const sentinel = fresh();
    const r = await attempt(
      `FROM busybox AS evil\nRUN ln -s ${sentinel.dir} /sent\n` +
        'FROM busybox\n' +
        'RUN --mount=type=bind,from=evil,source=/sent/b,target=/x,rw sh -c "rmdir /x/c; true"\n',
    );
    sentinel.assertUntouched();
    assert.equal(r.ok, false);
  });
});

describe('mount-point cleanup after a run never follows what the container planted', () => {
  it('a directory stub whose parent the run swapped for a host symlink: the host keeps its empty directory and times', async () => {
    const sentinel = fresh();
    // /a/b/c does not exist in busybox: kiln creates a, a/b and a/b/c as stubs for the mount.
    const r = await attempt(
      'FROM busybox\n' +
        `RUN --mount=type=tmpfs,target=/a/b/c sh -c "mv /a /moved && ln -s ${sentinel.dir} /a"\n`,
    );
    sentinel.assertUntouched();
    assert.ok(r.ok, r.ok ? '' : r.err.message);
    // The run's own changes stay: /a is its symlink, /moved its directory (with the stubs gone).
    assert.ok(exists(r.fs, 'a'));
    assert.ok(exists(r.fs, 'moved'));
  });

  it('a file stub (/etc/hosts) whose /etc the run swapped for a host symlink: the host file stays', async () => {
    const sentinel = fresh();
    // An image without /etc: kiln makes /etc and the empty /etc/hosts, /etc/resolv.conf stubs.
    const r = await attempt(
      'FROM busybox AS base\n' +
        'FROM scratch\nCOPY --from=base /bin /bin\n' +
        `RUN mv /etc /etc.moved && ln -s ${sentinel.dir} /etc\n`,
    );
    sentinel.assertUntouched();
    assert.ok(r.ok, r.ok ? '' : r.err.message);
  });
});
