/**
 * RUN's seccomp filter end to end (real runc, busybox): it is Docker's allow-list, so a call
 * Docker's profile leaves out is refused even when no deny list names it, while everything a
 * build step ordinarily does (files, archives, processes, owners, fifos, the network, chroot,
 * arm64 binaries through qemu) still works; `--security=insecure` runs unfiltered.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { buildDockerfile, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
let server: http.Server;
let port: number;

before(async () => {
  suite = await openSuite('seccomp');
  server = http.createServer((_req, res) => res.end('served to the build\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.close();
  await suite.close();
});

describe('RUN seccomp filter', () => {
  it('refuses a personality Docker’s profile does not list (ADDR_NO_RANDOMIZE); insecure allows it', async () => {
    // personality(2) is allowed only with Docker's five values: `linux64 -R` asks for
    // PER_LINUX|ADDR_NO_RANDOMIZE (0x40000), which a deny list of dangerous calls lets through.
    const probe = (name: string) =>
      `(linux64 -R true 2>/${name}-err && echo allowed || echo refused) > /${name}; linux64 true && echo ok > /${name}-plain`;
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nRUN ${probe('sandbox')}\nRUN --security=insecure ${probe('insecure')}\n`,
      {},
      { allow: ['security.insecure'] },
    );
    assert.equal(read(b.fs, 'sandbox').trim(), 'refused');
    assert.match(read(b.fs, 'sandbox-err'), /Operation not permitted/);
    assert.equal(read(b.fs, 'sandbox-plain'), 'ok\n', 'personality(PER_LINUX) is one of the allowed values');
    assert.equal(read(b.fs, 'insecure').trim(), 'allowed');
  });

  it('keeps namespace creation and mounts refused without CAP_SYS_ADMIN', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN (unshare -U true 2>/dev/null && echo allowed || echo refused) > /unshare; \\
    (mount -t tmpfs none /mnt 2>/dev/null && echo allowed || echo refused) > /mount; \\
    (nsenter -t 1 -m true 2>/dev/null && echo allowed || echo refused) > /nsenter
`,
    );
    assert.equal(read(b.fs, 'unshare').trim(), 'refused');
    assert.equal(read(b.fs, 'mount').trim(), 'refused');
    assert.equal(read(b.fs, 'nsenter').trim(), 'refused');
  });

  it('lets the everyday work of a build step through', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN <<EOF
set -e
mkdir /smoke && cd /smoke
echo hello > a && cp a b && ln a hard && ln -s a soft && ls -l > ls.txt
tar -cf t.tar a b && mkdir x && tar -xf t.tar -C x && cmp a x/a
gzip -k a && gunzip -c a.gz > a.out && cmp a a.out
sleep 0.1
date +%Y > year.txt
id -u > id.txt
chown 1000:1000 b && chmod 4750 b && stat -c %u:%g:%a b > owner.txt
mknod fifo p && mkfifo fifo2 && stat -c %F fifo > fifo.txt
chroot / true
linux32 true
sh -c 'sleep 0.1 & wait $!'
echo 3 1 2 | tr ' ' '\\n' | sort -n | xargs > sort.txt
su app -c 'id -un' > su.txt
nice -n 5 true && taskset -p 1 $$ > /dev/null && ionice -c 3 true
timeout 5 true
ps > /dev/null && nproc > /dev/null && uname -a > /dev/null
echo done > done
EOF
RUN --network=host wget -q -O /smoke/fetched http://127.0.0.1:${port}/
`,
      {},
      { allow: ['network.host'] },
    );
    assert.equal(read(b.fs, 'smoke/done'), 'done\n');
    assert.match(read(b.fs, 'smoke/ls.txt'), /soft -> a/);
    assert.equal(read(b.fs, 'smoke/year.txt').trim(), String(new Date().getUTCFullYear()));
    assert.equal(read(b.fs, 'smoke/id.txt'), '0\n');
    assert.equal(read(b.fs, 'smoke/owner.txt'), '1000:1000:4750\n');
    assert.equal(read(b.fs, 'smoke/fifo.txt'), 'fifo\n');
    assert.equal(read(b.fs, 'smoke/sort.txt'), '1 2 3\n');
    assert.equal(read(b.fs, 'smoke/su.txt'), 'app\n');
    assert.equal(read(b.fs, 'smoke/fetched'), 'served to the build\n');
  });

  it('runs arm64 binaries through qemu under the filter', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN uname -m > /arch && grep Seccomp: /proc/self/status | cut -f2 > /mode && \\
    mkdir /w && echo x > /w/f && tar -cf /w.tar /w && tar -tf /w.tar > /list && \\
    sh -c 'sleep 0.1 & wait $!' && chown 1000 /w/f && mknod /w/p p && date > /dev/null && echo ok > /ok
`,
      {},
      { platforms: [{ os: 'linux', architecture: 'arm64' }] },
    );
    assert.equal(read(b.fs, 'arch'), 'aarch64\n');
    assert.equal(read(b.fs, 'mode'), '2\n', 'qemu runs inside the filter');
    assert.equal(read(b.fs, 'list'), 'w/\nw/f\n');
    assert.equal(read(b.fs, 'ok'), 'ok\n');
  });
});
