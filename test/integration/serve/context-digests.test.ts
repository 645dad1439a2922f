/**
 * The build cache through kiln serve, whose context arrives as a tar each time: the digests the
 * extraction takes as it writes each file (src/context/handed.ts) decide the COPY cache keys. An
 * identical upload is all CACHED; a file whose bytes change while its size and mtime do not still
 * misses, and only the steps after it re-run; a hardlink gets its target's bytes, not a later
 * rewrite's; a context uploaded again is synced into the directory its last upload left and
 * holds exactly the new tar's files, and the files COPY linked from it into a layer are replaced,
 * never changed in place; a hostile tar stays inside its directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TarHeaderInput } from '../../../src/archive/tar/header.ts';
import { tarBytes } from '../../../src/testing/tar.ts';
import { request, type Served, serve } from './helpers.ts';

const MTIME = 1_700_000_000;

type Entry = [TarHeaderInput, string?];

/** A tar of `entries` in order, every member with the same mtime (so only content tells them apart). */
function tar(entries: Entry[]): Promise<Buffer> {
  return tarBytes(async (w) => {
    for (const [h, text] of entries) {
      const body = text === undefined ? undefined : Buffer.from(text);
      await w.add({ mtime: MTIME, ...h, size: body?.length ?? 0 }, body);
    }
  });
}

const file = (path: string, text: string): Entry => [{ path, type: 'file' }, text];

/** The plain progress the build streamed, and per step ("[2/5] COPY a /a") whether it was CACHED. */
function steps(body: string): { text: string; cached: Map<string, boolean>; id?: string } {
  let text = '';
  let id: string | undefined;
  for (const line of body.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { stream?: string; aux?: { ID?: string }; error?: string };
    if (m.error) assert.fail(`build failed: ${m.error}\n${text}`);
    if (m.stream) text += m.stream;
    if (m.aux?.ID) id = m.aux.ID;
  }
  const cached = new Map<string, boolean>();
  const names = new Map<string, string>();
  for (const l of text.split('\n')) {
    const v = /^#(\d+) (\[\d+\/\d+\] .*)$/.exec(l);
    if (v && !names.has(v[1])) names.set(v[1], v[2].replace(/^\[\d+\/\d+\] /, ''));
  }
  for (const [n, name] of names) cached.set(name, new RegExp(`^#${n} CACHED$`, 'm').test(text));
  return { text, cached, id };
}

async function build(s: Served, body: Buffer, tag: string) {
  const res = await request(s.socket, 'POST', `/v1.41/build?t=${tag}`, body);
  assert.equal(res.status, 200, res.body);
  return steps(res.body);
}

describe('kiln serve: the build cache of an uploaded context', () => {
  let s: Served;
  before(async () => {
    s = await serve('digests');
  });
  after(async () => {
    await s?.close();
  });

  const DOCKERFILE =
    'FROM busybox\nCOPY a /a\nRUN cat /a > /a.out\nCOPY b /b\nRUN cat /b && cat /b > /b.out\n';

  it('an identical upload is all CACHED; same size and mtime but new bytes re-runs only what follows', async () => {
    const ctx = (b: string) => tar([file('Dockerfile', DOCKERFILE), file('a', 'AAAA'), file('b', b)]);
    const first = await build(s, await ctx('BBBB-one'), 'dg:1');
    assert.equal(first.cached.get('RUN cat /a > /a.out'), false, first.text);

    const again = await build(s, await ctx('BBBB-one'), 'dg:2');
    assert.deepEqual([...again.cached.values()], [true, true, true, true, true], again.text);
    assert.equal(again.id, first.id);

    // Same length, same mtime in the tar: only the bytes differ.
    const changed = await build(s, await ctx('BBBB-two'), 'dg:3');
    assert.equal(changed.cached.get('COPY a /a'), true, changed.text);
    assert.equal(changed.cached.get('RUN cat /a > /a.out'), true, changed.text);
    assert.equal(changed.cached.get('COPY b /b'), false, changed.text);
    assert.equal(changed.cached.get('RUN cat /b && cat /b > /b.out'), false, changed.text);
    assert.match(changed.text, /BBBB-two/);
    assert.notEqual(changed.id, first.id);
  });

  it("a hardlink is keyed by its target's bytes, not by the file a later entry rewrote at the target's path", async () => {
    const df = file('Dockerfile', 'FROM busybox\nCOPY a h /d/\nRUN cat /d/a /d/h\n');
    // a=X, h→a, then a rewritten as Y: h keeps X.
    const linked = await build(
      s,
      await tar([df, file('a', 'XXXX'), [{ path: 'h', type: 'hardlink', linkname: 'a' }], file('a', 'YYYY')]),
      'hl:1',
    );
    assert.match(linked.text, /YYYYXXXX/);
    // The same files as plain members: the same key, so CACHED.
    const plain = await build(s, await tar([df, file('a', 'YYYY'), file('h', 'XXXX')]), 'hl:2');
    assert.equal(plain.cached.get('COPY a h /d/'), true, plain.text);
    assert.equal(plain.id, linked.id);
    // Swapped: a miss.
    const swapped = await build(s, await tar([df, file('a', 'XXXX'), file('h', 'YYYY')]), 'hl:3');
    assert.equal(swapped.cached.get('COPY a h /d/'), false, swapped.text);
    assert.match(swapped.text, /XXXXYYYY/);
  });

  it('a context uploaded again under the same tag holds exactly what the new tar holds', async () => {
    const df = file(
      'Dockerfile',
      'FROM busybox\nCOPY . /ctx\nRUN find /ctx | sort; cat /ctx/x/y 2>/dev/null; true\n',
    );
    const firstFiles = [
      df,
      file('gone', 'G'),
      file('keep', 'K'),
      file('x', 'was a file'),
      file('big', 'B'.repeat(3 << 20)),
    ];
    const first = await build(s, await tar(firstFiles), 'sync:1');
    assert.match(first.text, /\/ctx\/gone/);
    // Same tag, so the same kept directory: `gone` removed, `x` now a directory, `keep` unchanged.
    const second = await build(
      s,
      await tar([df, file('keep', 'K'), file('x/y', 'NEW-Y'), file('big', 'C'.repeat(3 << 20))]),
      'sync:1',
    );
    assert.doesNotMatch(second.text, /\/ctx\/gone/);
    assert.match(second.text, /\/ctx\/x\/y/);
    assert.match(second.text, /NEW-Y/);
    assert.equal(second.cached.get('COPY . /ctx'), false, second.text);
    // And back: the first tar again gives the first image (the same cache keys).
    const third = await build(s, await tar(firstFiles), 'sync:1');
    assert.equal(third.cached.get('COPY . /ctx'), true, third.text);
    assert.equal(third.id, first.id);
  });

  it("COPY links a kept upload's files into its layer, and the next upload never changes them there", async () => {
    // The Dockerfile stays out of the copied files: every build below copies the same key.
    const ctx = (run: string, f: string, gMode: number) =>
      tar([
        file('Dockerfile', `FROM busybox\nCOPY . /ctx\nRUN ${run}\n`),
        file('.dockerignore', 'Dockerfile\n'),
        file('d/f', f),
        [{ path: 'd/g', type: 'file', mode: gMode }, 'GGGG'],
      ]);
    const show = 'cat /ctx/d/f; stat -c "%h %a %n" /ctx/d/f /ctx/d/g';
    const first = await build(s, await ctx(show, 'ONE1', 0o644), 'shared:1');
    // Linked, not copied: the layer's file is the upload's (two names).
    assert.match(first.text, /ONE1/);
    assert.match(first.text, /2 644 \/ctx\/d\/f/);
    // Same tag, so the same kept directory: f's bytes change (same size, same mtime), g's mode.
    const second = await build(s, await ctx(show, 'TWO2', 0o600), 'shared:1');
    assert.match(second.text, /TWO2/);
    assert.match(second.text, /600 \/ctx\/d\/g/);
    // The first files again, under another tag (a directory of its own, so nothing re-syncs the
    // first one): COPY is CACHED, and its layer is the first build's, as it was made.
    const third = await build(s, await ctx(`${show}; echo third`, 'ONE1', 0o644), 'shared:2');
    assert.equal(third.cached.get('COPY . /ctx'), true, third.text);
    assert.match(third.text, /ONE1/);
    assert.match(third.text, /644 \/ctx\/d\/g/);
  });

  it('a hostile upload into a kept directory stays inside it, and the next upload is built as sent', async () => {
    const outside = join(s.dir, 'outside-kept');
    mkdirSync(outside);
    const df = file('Dockerfile', 'FROM busybox\nCOPY . /ctx\nRUN cat /ctx/d/f\n');
    await build(s, await tar([df, file('d/f', 'inner')]), 'kept:1');
    // `d` becomes a symlink out, then entries beneath it: written inside the root, never outside.
    await request(
      s.socket,
      'POST',
      '/v1.41/build?t=kept:1',
      await tar([df, [{ path: 'd', type: 'symlink', linkname: outside }], file('d/f', 'PWNED')]),
    );
    assert.deepEqual(readdirSync(outside), []);
    const after = await build(s, await tar([df, file('d/f', 'clean')]), 'kept:1');
    assert.match(after.text, /clean/);
    assert.deepEqual(readdirSync(outside), []);
  });

  it('a tar that plants a symlink out of its directory writes beneath it, not through it', async () => {
    const outside = join(s.dir, 'outside');
    mkdirSync(outside);
    const res = await request(
      s.socket,
      'POST',
      '/v1.41/build?t=evil:1',
      await tar([
        file('Dockerfile', 'FROM busybox\nCOPY . /ctx\nRUN cat /ctx/esc/pwned\n'),
        [{ path: 'esc', type: 'symlink', linkname: outside }],
        file('esc/pwned', 'PWNED'),
        [{ path: 'up', type: 'symlink', linkname: '../../../../../../..' }],
        file('up/pwned2', 'PWNED2'),
      ]),
    );
    // Either refused or built from what stayed inside: never a file outside.
    assert.ok(res.status === 200 || res.status === 400, res.body);
    assert.equal(existsSync(join(outside, 'pwned')), false);
    assert.equal(existsSync('/pwned2'), false);
  });
});
