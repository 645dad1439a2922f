import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeName } from '../sys/fsname.ts';
import { readXattrsIn, readXattrTree, readXattrTreeIn, writeXattrs } from './xattr.ts';

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

describe('the extended attributes of a few entries', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-xattr-few-'));
  const root = path.join(tmp, 'ctx');
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  before(() => {
    fs.mkdirSync(path.join(root, 'd/e'), { recursive: true });
    fs.writeFileSync(path.join(root, 'd/e/f'), 'f');
    fs.writeFileSync(path.join(root, 'plain'), 'p');
    // A sentinel outside the root, with an attribute of its own, and links to it inside.
    fs.writeFileSync(path.join(tmp, 'sentinel'), 's');
    fs.symlinkSync(path.join(tmp, 'sentinel'), path.join(root, 'link'));
    fs.symlinkSync(tmp, path.join(root, 'outside'));
    execFileSync('setfattr', ['-n', 'user.host', '-v', 'secret', path.join(tmp, 'sentinel')]);
    execFileSync('setfattr', ['-n', 'user.root', '-v', 'r', root]);
    execFileSync('setfattr', ['-n', 'user.dir', '-v', 'd', path.join(root, 'd')]);
    execFileSync('setfattr', ['-n', 'user.file', '-v', 'f', path.join(root, 'd/e/f')]);
  });

  it('are read as the tree gives them, never through a symlink', async () => {
    const few = await readXattrsIn(root, ['', 'd', 'd/e/f', 'plain', 'link']);
    const tree = await readXattrTree(root);
    assert.deepEqual(
      few,
      new Map([...tree].filter(([rel]) => ['', 'd', 'd/e/f', 'plain', 'link'].includes(rel))),
    );
    assert.deepEqual(few?.get('d/e/f'), { 'user.file': Buffer.from('f') });
    assert.equal(few?.get('link'), undefined, "the link's target's attributes were read");
    // A path through a symlink (as if a directory had been swapped for one): not read at all.
    assert.equal(await readXattrsIn(root, ['outside/sentinel']), undefined);
    // A name that is not UTF-8 cannot be an argument: the caller reads the tree.
    assert.equal(await readXattrsIn(root, ['caf\udce9']), undefined);
    // A file as the root: the caller reads it as the tree.
    assert.equal(await readXattrsIn(path.join(root, 'plain'), ['']), undefined);
  });

  it('of a subtree are read from inside the root, never through a symlink on the way or at it', async () => {
    assert.deepEqual(await readXattrTreeIn(root, 'd'), await readXattrTree(path.join(root, 'd')));
    assert.deepEqual(await readXattrTreeIn(root, ''), await readXattrTree(root));
    assert.deepEqual(
      await readXattrTreeIn(root, 'd/e/f'),
      new Map([['', { 'user.file': Buffer.from('f') }]]),
    );
    // A directory swapped for a link to the host: the link's own (none), not the host's tree.
    assert.deepEqual(await readXattrTreeIn(root, 'outside'), new Map());
    assert.deepEqual(await readXattrTreeIn(root, 'link'), new Map());
    // Through a link, or gone: nothing read, the caller says the source changed.
    assert.equal(await readXattrTreeIn(root, 'outside/sentinel'), undefined);
    assert.equal(await readXattrTreeIn(root, 'gone'), undefined);
    assert.equal(await readXattrTreeIn(root, 'plain/x'), undefined);
  });
});
