import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import { resolveUser } from './user.ts';

describe('resolveUser', () => {
  let root: string;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-user-'));
    await fs.mkdir(path.join(root, 'etc'));
    await fs.writeFile(
      path.join(root, 'etc/passwd'),
      '# comment\nroot:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken:x:abc:1::/:/bin/sh\n',
    );
    await fs.writeFile(
      path.join(root, 'etc/group'),
      'root:x:0:\nappgrp:x:1001:\nwheel:x:10:root,app\ndocker:x:999:app\n',
    );
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('resolves a name with its primary and supplementary groups and home', async () => {
    assert.deepEqual(await resolveUser(root, 'app'), {
      uid: 1000,
      gid: 1001,
      additionalGids: [10, 999],
      home: '/home/app',
    });
  });

  it('defaults to root', async () => {
    assert.deepEqual(await resolveUser(root, undefined), {
      uid: 0,
      gid: 0,
      additionalGids: [10],
      home: '/root',
    });
  });

  it('takes an explicit group by name or number', async () => {
    assert.equal((await resolveUser(root, 'app:wheel')).gid, 10);
    assert.equal((await resolveUser(root, '1000:5')).gid, 5);
  });

  it('accepts an unknown numeric uid with gid 0, as runc does', async () => {
    assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });

  it('rejects unknown names', async () => {
    await assert.rejects(resolveUser(root, 'ghost'), (e) => hasCode(e, 'EXEC_USER_UNKNOWN'));
    await assert.rejects(resolveUser(root, 'app:ghosts'), (e) => hasCode(e, 'EXEC_GROUP_UNKNOWN'));
  });

  it('follows /etc symlinks inside the rootfs, never to the host', async () => {
    const other = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-user2-'));
    await fs.mkdir(path.join(other, 'etc2'));
    await fs.writeFile(path.join(other, 'etc2/passwd'), 'inside:x:7:7::/in:/bin/sh\n');
    // `..` stops at the rootfs: this is <rootfs>/etc2, not the host's /etc2.
    await fs.symlink('/real/../../../etc2', path.join(other, 'etc'));
    assert.equal((await resolveUser(other, 'inside')).uid, 7);
    await assert.rejects(resolveUser(other, 'root'), (e) => hasCode(e, 'EXEC_USER_UNKNOWN'));
    await fs.rm(other, { recursive: true, force: true });
  });
});
