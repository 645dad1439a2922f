import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeName } from '../sys/fsname.ts';
import { readXattrTree, writeXattrs } from './xattr.ts';

describe('extended attributes of names that are not UTF-8', () => {
  let tmp: string;
  /** A root whose own name is not UTF-8 either (escaped as kiln holds it). */
  let root: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-xattr-'));
    root = path.join(tmp, 'r\udcff');
    fs.mkdirSync(encodeName(path.join(root, '\udcfe')), { recursive: true });
    fs.writeFileSync(encodeName(path.join(root, 'caf\udce9')), 'x');
    fs.writeFileSync(encodeName(path.join(root, '\udcfe', 'i\udc80')), 'y');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('are written and read back under their exact paths and attribute names', async () => {
    await writeXattrs([
      {
        path: path.join(root, 'caf\udce9'),
        xattrs: { 'user.\udcff': Buffer.from('v'), 'user.k': Buffer.from('1') },
      },
      { path: path.join(root, '\udcfe', 'i\udc80'), xattrs: { 'user.a': Buffer.from([0xff, 0]) } },
    ]);
    // getfattr itself sees the bytes (walking from the plain parent: an argument cannot hold them).
    const dump = execFileSync('getfattr', ['-R', '-d', '-m', '-', '--absolute-names', tmp], {
      encoding: 'latin1',
    });
    assert.match(dump, /# file: .*\/r\xff\/caf\xe9\nuser\.k="1"\nuser\.\xff="v"\n/);
    const tree = await readXattrTree(root);
    assert.deepEqual([...tree.keys()].sort(), ['caf\udce9', '\udcfe/i\udc80']);
    assert.deepEqual(tree.get('caf\udce9'), { 'user.\udcff': Buffer.from('v'), 'user.k': Buffer.from('1') });
    assert.deepEqual(tree.get('\udcfe/i\udc80'), { 'user.a': Buffer.from([0xff, 0]) });
    // A single file as the root (a COPY of one file).
    const one = await readXattrTree(path.join(root, 'caf\udce9'));
    assert.deepEqual(
      [...one.entries()],
      [['', { 'user.\udcff': Buffer.from('v'), 'user.k': Buffer.from('1') }]],
    );
  });
});
