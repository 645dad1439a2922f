/**
 * `--format`, `--filter` and sizes end to end on a real build: inspect templates as docker users
 * write them, images filters, the same uncompressed size in images, inspect and history, version
 * and system df templates, and clear errors for a bad template or filter.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { humanSize } from '../../../src/cli/format/units.ts';
import { type CliRoot, cliRoot } from './helpers.ts';

let r: CliRoot;
let id: string;
before(async () => {
  r = await cliRoot('formats');
  const ctx = await r.context({
    Dockerfile: 'FROM busybox\nENV A=1\nLABEL x=y\nRUN head -c 100000 /dev/urandom > /blob\nCMD ["sh"]\n',
  });
  id = r.ok(['build', '-q', '-t', 'fmt/app:1', '-t', 'fmt/app:latest', ctx]).trim();
});
after(() => r.close());

describe('formats and filters', () => {
  it('inspect templates: nested fields, json, index, range, and json for the whole list', () => {
    assert.match(
      r.ok(['image', 'inspect', '--format', '{{.Config.Env}}', 'fmt/app:1']),
      /^\[PATH=\S+ A=1\]\n$/,
    );
    assert.equal(
      r.ok(['image', 'inspect', '--format', '{{json .Config.Labels}}', 'fmt/app:1']),
      '{"x":"y"}\n',
    );
    assert.equal(r.ok(['image', 'inspect', '-f', '{{index .RepoTags 0}}', id]), 'fmt/app:1\n');
    assert.equal(
      r.ok(['image', 'inspect', '-f', '{{range .RepoTags}}{{.}};{{end}} {{.Os}}/{{.Architecture}}', id]),
      'fmt/app:1;fmt/app:latest; linux/amd64\n',
    );
    const json = r.ok(['image', 'inspect', '--format', 'json', 'fmt/app:1', 'busybox']);
    assert.equal(json.split('\n').length, 2, 'one line');
    const [app, busybox] = JSON.parse(json) as { RepoTags: string[] }[];
    assert.deepEqual(app.RepoTags, ['fmt/app:1', 'fmt/app:latest']);
    assert.ok(busybox.RepoTags.includes('busybox:latest'), busybox.RepoTags.join());
    const missing = r.kiln(['image', 'inspect', '--format', '{{.Nope}}', id]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^error: template: no field or key "Nope"\nhint: /);
    const some = r.kiln(['image', 'inspect', '-f', '{{.Id}}', id, 'no/such:1']);
    assert.equal(some.code, 1);
    assert.equal(some.out, `${id}\n`, 'the images that exist are still printed');
    assert.match(some.err, /no image named "no\/such:1"/);
  });

  it('one size everywhere: images, inspect and the layers of history add up', () => {
    const size = Number(r.ok(['image', 'inspect', '-f', '{{.Size}}', id]));
    assert.equal(
      r.ok(['images', '--format', '{{.Tag}} {{.Size}}', 'fmt/app:1']),
      `1 ${humanSize(size, 3)}\n`,
    );
    const layers = r
      .ok(['image', 'history', '-H=false', '--format', '{{.Size}}', id])
      .trim()
      .split('\n')
      .map(Number);
    assert.equal(
      layers.reduce((n, x) => n + x, 0),
      size,
    );
    assert.ok(
      layers.some((s) => s > 100_000),
      'the RUN layer holds its 100 kB file',
    );
  });

  it('images filters: reference globs, label, dangling, before and since', () => {
    const ids = (args: string[]) =>
      r
        .ok(['images', '--format', '{{.Repository}}:{{.Tag}}', ...args])
        .trim()
        .split('\n');
    assert.deepEqual(ids(['--filter', 'reference=fmt/*']), ['fmt/app:1', 'fmt/app:latest']);
    assert.deepEqual(ids(['--filter', 'reference=fmt/app:l*']), ['fmt/app:latest']);
    assert.deepEqual(ids(['fmt/app:1']), ['fmt/app:1']);
    assert.deepEqual(ids(['--filter', 'label=x=y']), ['fmt/app:1', 'fmt/app:latest']);
    assert.deepEqual(ids(['--filter', 'label=x=z']), ['']);
    assert.ok(ids(['--filter', 'before=fmt/app:1']).includes('busybox:latest'));
    assert.deepEqual(ids(['--filter', 'since=busybox', '--filter', 'dangling=false']), [
      'fmt/app:1',
      'fmt/app:latest',
    ]);
    const bad = r.kiln(['images', '--filter', 'color=red']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^error: invalid filter 'color=red'\nhint: use --filter KEY=VALUE/);
  });

  it('version and system df take templates and json', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8'));
    assert.equal(r.ok(['version', '--format', '{{.Client.Version}}']), `${pkg.version}\n`);
    const v = JSON.parse(r.ok(['version', '--format', 'json']));
    assert.equal(v.Server.Components[0].Name, 'Engine');
    assert.equal(v.Server.Components[0].Details.Root, r.root);
    assert.match(r.ok(['version']), /^Client:\n Version: {11}\S+\n Node version: {6}v24\./);
    assert.equal(
      r.ok(['system', 'df', '--format', '{{.Type}}']),
      'Images\nContainers\nLocal Volumes\nBuild Cache\n',
    );
    const bad = r.kiln(['images', '--format', '{{.Repository']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^error: template parsing error: unclosed action\nhint: /);
  });
});
