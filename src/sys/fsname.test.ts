import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  compareNames,
  decodeName,
  decodePercent,
  encodeName,
  encodePath,
  hasEscape,
  nameByteLength,
  showName,
  sortNames,
} from './fsname.ts';

/** Pieces random names are made of: plain bytes, valid sequences, and every way UTF-8 goes wrong. */
const PIECES: number[][] = [
  [0x61],
  [0x2f],
  [0x00],
  [0x7f],
  [0xc3, 0xa9], // é
  [0xe4, 0xb8, 0xad], // 中
  [0xf0, 0x90, 0x82, 0x80], // U+10080: its UTF-16 low half is U+DC80
  [0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
  [0xef, 0xbf, 0xbd], // a real U+FFFD
  [0x80],
  [0xbf],
  [0xc0, 0x80], // overlong
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80], // overlong
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0xf5],
  [0xff],
  [0xfe],
  [0xe4, 0xb8], // truncated
  [0xf0, 0x90, 0x82],
  [0xc3],
];

function randomName(): Buffer {
  const out: number[] = [];
  const n = randomInt(0, 12);
  for (let i = 0; i < n; i++) {
    if (randomInt(0, 4) === 0) out.push(randomInt(0, 256));
    else out.push(...PIECES[randomInt(0, PIECES.length)]);
  }
  return Buffer.from(out);
}

/** Python's own surrogateescape decoding of each name (the reference the mapping follows). */
function pythonDecode(names: Buffer[]): string[] {
  // One hex line per name (an empty line for an empty name).
  const script = `import json, sys
names = [bytes.fromhex(h) for h in sys.stdin.read().split('\\n')]
json.dump([n.decode('utf-8', 'surrogateescape') for n in names], sys.stdout)`;
  const input = names.map((n) => n.toString('hex')).join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script], { input, encoding: 'utf8' }));
}

describe('file names as bytes', () => {
  it('every byte value round-trips, and only bytes that are not UTF-8 become escapes', () => {
    for (let v = 0; v < 256; v++) {
      const bytes = Buffer.from([0x61, v, 0x62]);
      const s = decodeName(bytes);
      assert.deepEqual(encodeName(s), bytes, `byte ${v}`);
      assert.equal(hasEscape(s), v >= 0x80, `byte ${v}`);
      if (v >= 0x80) assert.equal(s, `a${String.fromCharCode(0xdc00 + v)}b`);
      else assert.equal(s, bytes.toString('latin1'));
    }
  });

  it('random byte strings round-trip and decode exactly as Python surrogateescape does', () => {
    const names = Array.from({ length: 3000 }, randomName);
    const py = pythonDecode(names);
    for (let i = 0; i < names.length; i++) {
      const s = decodeName(names[i]);
      assert.equal(s, py[i], `name ${names[i].toString('hex')}`);
      assert.deepEqual(encodeName(s), names[i], `name ${names[i].toString('hex')}`);
      assert.equal(nameByteLength(s), names[i].length);
    }
  });

  it('valid UTF-8 decodes as Node decodes it, and such strings go to the kernel as themselves', () => {
    for (const text of ['plain', 'café', '名前', 'astral-\u{10080}', 'x\ufffd', '']) {
      assert.equal(decodeName(Buffer.from(text)), text);
      assert.equal(hasEscape(text), false);
      assert.equal(encodePath(text), text, 'the very same string: no copy, no Buffer');
    }
    const bytes = encodePath(decodeName(Buffer.from([0x2f, 0x78, 0xff])));
    assert.deepEqual(bytes, Buffer.from([0x2f, 0x78, 0xff]));
  });

  it('only a lone low surrogate in U+DC80–U+DCFF is an escape; a pair never is', () => {
    assert.equal(hasEscape('\ud800\udc80'), false);
    assert.deepEqual(encodeName('\ud800\udc80'), Buffer.from([0xf0, 0x90, 0x82, 0x80]));
    assert.equal(hasEscape('\udc80'), true);
    assert.equal(hasEscape('\udc7f'), false);
    assert.deepEqual(encodeName('\udc80\udcff'), Buffer.from([0x80, 0xff]));
    assert.deepEqual(encodeName('\ud800\udc80\udc80'), Buffer.from([0xf0, 0x90, 0x82, 0x80, 0x80]));
    // A lone high surrogate is not a byte: it becomes U+FFFD, as Node writes it.
    assert.deepEqual(encodeName('\ud800\udcff'), Buffer.from([0xf0, 0x90, 0x83, 0xbf]));
  });

  it('names sort in byte order, escaped bytes by their value', () => {
    const names = [
      Buffer.from('中'),
      Buffer.from([0x80]),
      Buffer.from('é'),
      Buffer.from([0xe9]),
      Buffer.from('\u{10080}'),
    ].map(decodeName);
    const sorted = sortNames([...names]).map(encodeName);
    assert.deepEqual(sorted, [...sorted].sort(Buffer.compare));
    assert.equal(compareNames('a', 'b'), -1);
    assert.equal(compareNames('\udce9', '\udce9'), 0);
  });

  it('%XX escapes stand for bytes; names show their escaped bytes as \\xNN', () => {
    assert.equal(decodePercent('caf%C3%A9'), 'café');
    assert.equal(decodePercent('caf%e9'), 'caf\udce9');
    assert.equal(decodePercent('100%'), '100%');
    assert.equal(showName('caf\udce9/\ud800\udc80'), 'caf\\xe9/\ud800\udc80');
  });
});
