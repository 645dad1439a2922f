import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  lstatSync,
  mkdirSync,
  readdir,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
} from './fs.ts';
import { decodeName, encodeName } from './fsname.ts';
import { mknodSync } from './mknod.ts';

const raw = (dir: string, ...bytes: number[][]): Buffer =>
  Buffer.concat([Buffer.from(`${dir}/`), ...bytes.map((b, i) => Buffer.from(i ? [0x2f, ...b] : b))]);

describe('node:fs with byte-exact names', () => {
  let tmp: string;
  before(() => {
    tmp = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'kiln-fsname-'));
    nodeFs.writeFileSync(raw(tmp, [0x78, 0xff]), 'bad');
    nodeFs.writeFileSync(path.join(tmp, 'x\ufffd'), 'lookalike');
    nodeFs.writeFileSync(path.join(tmp, 'plain'), 'plain');
    nodeFs.mkdirSync(raw(tmp, [0xff, 0xfe]));
    nodeFs.writeFileSync(raw(tmp, [0xff, 0xfe], [0x69, 0x80]), 'inner');
    nodeFs.symlinkSync(Buffer.from([0x74, 0xfe, 0xff]), raw(tmp, [0x6c, 0xfd]));
  });
  after(() => nodeFs.rmSync(tmp, { recursive: true, force: true }));

  it('readdir names a file that is not UTF-8 apart from its U+FFFD look-alike, and each opens', async () => {
    const names = readdirSync(tmp).sort();
    assert.deepEqual(names, ['l\udcfd', 'plain', 'x\udcff', 'x\ufffd', '\udcff\udcfe'].sort());
    assert.deepEqual((await readdir(tmp)).sort(), names);
    assert.equal(readFileSync(path.join(tmp, 'x\udcff'), 'utf8'), 'bad');
    assert.equal(readFileSync(path.join(tmp, 'x\ufffd'), 'utf8'), 'lookalike');
    assert.equal(readFileSync(path.join(tmp, '\udcff\udcfe', 'i\udc80'), 'utf8'), 'inner');
    // A plain directory's listing is what node:fs gives.
    assert.deepEqual(readdirSync(path.join(tmp, '\udcff\udcfe')), ['i\udc80']);
  });

  it('symlink targets, real paths and new names keep their bytes', () => {
    assert.equal(readlinkSync(path.join(tmp, 'l\udcfd')), 't\udcfe\udcff');
    assert.equal(
      realpathSync(path.join(tmp, '\udcff\udcfe', '.')),
      path.join(realpathSync(tmp), '\udcff\udcfe'),
    );
    mkdirSync(path.join(tmp, 'n\udce9'));
    symlinkSync('to\udcfb', path.join(tmp, 'n\udce9', 'l'));
    assert.deepEqual(
      nodeFs.readlinkSync(raw(tmp, [0x6e, 0xe9], [0x6c]), { encoding: 'buffer' }),
      Buffer.from([0x74, 0x6f, 0xfb]),
    );
    assert.ok(lstatSync(path.join(tmp, 'n\udce9')).isDirectory());
  });

  it('mknod makes a node under a name that is not UTF-8, in a directory whose name is not either', () => {
    const fifo = path.join(tmp, '\udcff\udcfe', 'p\udcfa');
    mknodSync(fifo, 'fifo', 0o640);
    const st = nodeFs.lstatSync(encodeName(fifo));
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o640);
    // Nothing else was left behind (the temporary name is gone).
    assert.deepEqual(
      nodeFs
        .readdirSync(raw(tmp, [0xff, 0xfe]), { encoding: 'buffer' })
        .map(decodeName)
        .sort(),
      ['i\udc80', 'p\udcfa'],
    );
    // Like mknod(2), it fails when the name is taken.
    assert.throws(() => mknodSync(fifo, 'fifo', 0o640));
  });
});
