/**
 * Tar generation for the layer fuzz target: random members (every type, hostile paths and link
 * targets, odd modes, ids, times, xattrs), raw metadata headers (PAX records, GNU long names,
 * malformed lengths), header fields mutated with their checksum fixed so the reader takes them,
 * and whole-archive byte mutations.
 */
import {
  BLOCK,
  completeHeader,
  encodeHeader,
  encodePax,
  padding,
  type TarEntryType,
} from '../../../src/archive/tar/header.ts';
import { mutate, type Rng } from './random.ts';

/** Set a header block's checksum so that the reader accepts whatever else it holds. */
export function fixChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A metadata member ('x', 'g', 'L', 'K' or any flag) carrying `body`. */
export function rawMember(flag: string, body: Buffer, name = 'meta'): Buffer {
  const block = encodeHeader(completeHeader({ path: name, type: 'file', size: body.length }));
  block[156] = flag.charCodeAt(0);
  return Buffer.concat([fixChecksum(block), body, Buffer.alloc(padding(body.length))]);
}

/** Path components an attacker would try, beside ordinary names. */
function component(rng: Rng): string {
  if (rng.chance(0.75)) return rng.pick(['a', 'b', 'c', 'dir', 'etc', 'x y', 'é', 'sub']);
  return rng.pick([
    'a',
    'b',
    'dir',
    '..',
    '.',
    '',
    'etc',
    'x y',
    'é',
    '.wh.a',
    '.wh..wh..opq',
    '.wh..wh.plnk',
    '.wh.',
    '.wh...',
    'n'.repeat(1 + rng.int(300)),
    rng.string(1 + rng.int(8), 'ab.\\:*\n\t'),
  ]);
}

function memberPath(rng: Rng, outside: string): string {
  if (rng.chance(0.02)) return outside + (rng.chance(0.5) ? '/secret' : '');
  const parts = Array.from({ length: 1 + rng.int(4) }, () => component(rng));
  const prefix = rng.chance(0.9) ? rng.pick(['', '', './']) : rng.pick(['/', '../']);
  return `${prefix}${parts.join('/')}${rng.chance(0.1) ? '/' : ''}`;
}

function linkTarget(rng: Rng, outside: string): string {
  return rng.pick([
    outside,
    `${outside}/secret`,
    `${outside}/sub`,
    '/',
    '/etc',
    '../../..',
    '../'.repeat(1 + rng.int(20)) + outside.slice(1),
    'a',
    'a/b',
    '.',
    '',
    memberPath(rng, outside),
  ]);
}

const TYPES: TarEntryType[] = [
  'file',
  'file',
  'directory',
  'directory',
  'symlink',
  'symlink',
  'hardlink',
  'char',
  'block',
  'fifo',
];

function member(rng: Rng, outside: string): Buffer {
  const type = rng.pick(TYPES);
  const content = type === 'file' ? rng.bytes(rng.size(2000)) : Buffer.alloc(0);
  const xattrs: Record<string, Buffer> = {};
  if (rng.chance(0.15)) {
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const name = rng.pick([
        'user.x',
        'security.capability',
        'trusted.overlay.opaque',
        'trusted.overlay.redirect',
        'security.selinux',
        `user.${rng.string(4, 'ab')}`,
      ]);
      xattrs[name] = rng.bytes(rng.size(64));
    }
  }
  const header = encodeHeader(
    completeHeader({
      path: memberPath(rng, outside),
      type,
      size: content.length,
      mode: rng.chance(0.7) ? rng.pick([0o644, 0o755, 0o700]) : rng.int(0o10000),
      uid: rng.chance(0.8) ? 0 : rng.pick([1000, 65534, 2 ** 31 - 1, rng.int(2 ** 21)]),
      gid: rng.chance(0.8) ? 0 : rng.pick([1000, 65534, rng.int(2 ** 21)]),
      mtime: rng.chance(0.8) ? 1704067200 : rng.pick([0, -1, 2 ** 33, 1.5, rng.int(2 ** 31)]),
      linkname: type === 'symlink' || type === 'hardlink' ? linkTarget(rng, outside) : '',
      // Only harmless devices: the target is confinement, not what a device node opens.
      devmajor: type === 'char' || type === 'block' ? rng.pick([0, 1]) : 0,
      devminor: type === 'char' || type === 'block' ? rng.pick([0, 3, 5]) : 0,
      xattrs,
    }),
  );
  // The main block is the last one: mutate a field of it now and then, checksum fixed.
  if (rng.chance(0.1)) {
    const main = header.subarray(header.length - BLOCK);
    const field = rng.pick([
      [0, 100],
      [100, 8],
      [124, 12],
      [136, 12],
      [156, 1],
      [157, 100],
      [257, 8],
      [329, 16],
      [345, 155],
    ] as const);
    const at = field[0] + rng.int(field[1]);
    main[at] = rng.pick([0, 0x80, 0xff, 0x37, 0x20, 0x2f, 0x2e, rng.int(256)]);
    fixChecksum(main);
  }
  return Buffer.concat([header, content, Buffer.alloc(padding(content.length))]);
}

function metadata(rng: Rng, outside: string): Buffer {
  switch (rng.int(4)) {
    case 0: {
      const records: [string, Buffer][] = [];
      for (let n = 1 + rng.int(4); n > 0; n--) {
        const key = rng.pick([
          'path',
          'linkpath',
          'size',
          'uid',
          'mtime',
          'SCHILY.xattr.user.a',
          'LIBARCHIVE.xattr.user%2Eb',
          'GNU.sparse.size',
          rng.string(3, 'ab.='),
        ]);
        const value =
          key === 'path' || key === 'linkpath'
            ? Buffer.from(linkTarget(rng, outside))
            : Buffer.from(
                rng.pick([
                  '0',
                  '-1',
                  '1e9',
                  '99999999999999999999',
                  'x',
                  '',
                  '12.5',
                  String(rng.int(1 << 20)),
                ]),
              );
        records.push([key, value]);
      }
      return rawMember(
        rng.pick(['x', 'x', 'g']),
        rng.chance(0.8) ? encodePax(records) : mutate(rng, encodePax(records)),
      );
    }
    case 1:
      return rawMember(rng.pick(['L', 'K']), Buffer.from(`${linkTarget(rng, outside)}\0`));
    case 2:
      return rawMember(rng.pick(['S', 'V', 'M', 'D', '7', '\0', 'Z']), rng.bytes(rng.size(600)));
    default: {
      // A record whose declared length lies.
      const body = Buffer.from(`${rng.pick(['99', '0', '3', '-5', 'x'])} path=${outside}\n`);
      return rawMember('x', body);
    }
  }
}

/** A random tar archive; `outside` is a host path attacks aim at. */
export function randomTar(rng: Rng, outside: string): Buffer {
  const parts: Buffer[] = [];
  for (let n = rng.size(40); n > 0; n--)
    parts.push(rng.chance(0.15) ? metadata(rng, outside) : member(rng, outside));
  if (rng.chance(0.9)) parts.push(Buffer.alloc(BLOCK * rng.pick([2, 2, 1, 3])));
  let tar: Buffer = Buffer.concat(parts);
  if (rng.chance(0.2)) tar = mutate(rng, tar);
  return tar;
}
