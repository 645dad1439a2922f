/**
 * The README's library example, run as a user would: its code block copied verbatim into a
 * project outside the repository that depends on kiln as a `file:` dependency (a symlink in
 * node_modules, as npm installs one), run in a directory holding a Dockerfile, must print an
 * image ID that the public API then finds under the example's tag.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const repo = resolve(import.meta.dirname, '../..');
const node = join(repo, 'node_modules/.bin/node');
const dir = mkdtempSync(join(tmpdir(), 'kiln-library-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The first ```ts block of README.md's "As a library" section. */
function readmeExample(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('As a library'));
  const code = section && /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'README.md has a ts example under "As a library"');
  return code;
}

test("the README's library example builds an image from a project outside the repository", () => {
  const project = join(dir, 'app');
  const root = join(dir, 'root');
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'app', type: 'module', private: true, dependencies: { kiln: `file:${repo}` } }),
  );
  // What `npm install` makes of a file: dependency on a directory: a link to it.
  symlinkSync(repo, join(project, 'node_modules', 'kiln'));
  writeFileSync(join(project, 'example.ts'), readmeExample());
  writeFileSync(join(project, 'Dockerfile'), 'FROM scratch\nCOPY package.json /\n');
  const env = { ...process.env, KILN_ROOT: root };
  const printed = execFileSync(node, ['--no-warnings', 'example.ts'], {
    cwd: project,
    env,
    encoding: 'utf8',
  });
  const id = printed.trim().split('\n').at(-1)!;
  assert.match(id, /^sha256:[0-9a-f]{64}$/);

  // The public API, from the same outside project, sees the image under the example's tag.
  writeFileSync(
    join(project, 'check.ts'),
    [
      "import { inspectImage, openStore } from 'kiln';",
      'const store = openStore();',
      "const info = await inspectImage(store, 'app:1');",
      'console.log(info.Id);',
      'store.close();',
    ].join('\n'),
  );
  const found = execFileSync(node, ['--no-warnings', 'check.ts'], { cwd: project, env, encoding: 'utf8' });
  assert.equal(found.trim(), id);
});
