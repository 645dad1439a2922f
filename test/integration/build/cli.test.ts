/**
 * `kiln build` through bin/kiln: exit codes, what it prints on success and on failure (the step,
 * file:line with the offending line, a hint), contexts and Dockerfiles from stdin, and the image
 * commands that show the result.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { KILN, kiln, makeContext, openSuite, type Suite, scratch } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('cli');
});
after(() => suite.close());

const ID = /^sha256:[0-9a-f]{64}\n$/;

describe('kiln build succeeds', () => {
  let ctx: string;
  let id: string;
  before(async () => {
    ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nARG WHO=nobody\nRUN echo "hello $WHO" > /greeting\nCMD ["cat", "/greeting"]\n',
    });
  });

  it('prints the image ID on stdout and exits 0', () => {
    const r = kiln(suite, [
      'build',
      '--progress',
      'plain',
      '-t',
      'spec/cli:1',
      '--build-arg',
      'WHO=cli',
      '--label',
      'from=cli',
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, ID);
    id = r.out.trim();
    assert.match(r.err, /RUN echo "hello cli" > \/greeting/);
    assert.match(r.err, /DONE/);
  });

  it('kiln images lists the tag with the ID, and image inspect shows the config', () => {
    const table = kiln(suite, ['images']);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, new RegExp(`spec/cli\\s+1\\s+${id.slice(7, 19)}`));
    const inspect = kiln(suite, ['image', 'inspect', 'spec/cli:1']);
    assert.equal(inspect.code, 0, inspect.err);
    const [info] = JSON.parse(inspect.out);
    assert.equal(info.Id, id);
    assert.deepEqual(info.Config.Cmd, ['cat', '/greeting']);
    assert.equal(info.Config.Labels.from, 'cli');
  });

  it('a rebuild reports every step CACHED and prints the same ID; -q prints only the ID', () => {
    const r = kiln(suite, [
      'build',
      '--progress',
      'plain',
      '--build-arg',
      'WHO=cli',
      '--label',
      'from=cli',
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), id);
    // Every instruction step is a cache hit (only BuildKit's internal steps and the export run).
    const steps = [...r.err.matchAll(/^#(\d+) \[\d+\/\d+\] /gm)].map((m) => m[1]);
    assert.equal(steps.length, 2, r.err);
    for (const n of steps) assert.match(r.err, new RegExp(`^#${n} CACHED$`, 'm'));
    assert.doesNotMatch(r.err, /^#\d+ \d+\.\d+ /m, 'no step printed output');
    const q = kiln(suite, ['build', '-q', '--build-arg', 'WHO=cli', '--label', 'from=cli', ctx]);
    assert.equal(q.code, 0, q.err);
    assert.equal(q.out, `${id}\n`);
    assert.equal(q.err, '');
  });

  it('--iidfile and --metadata-file record the result', async () => {
    const dir = await scratch(suite, 'meta');
    const r = kiln(suite, [
      'build',
      '-q',
      '--build-arg',
      'WHO=cli',
      '--label',
      'from=cli',
      '--iidfile',
      join(dir, 'iid'),
      '--metadata-file',
      join(dir, 'meta.json'),
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(dir, 'iid'), 'utf8'), id);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    assert.equal(meta['containerimage.config.digest'], id);
  });
});

describe('kiln build --platform', () => {
  it('stores a multi-platform image whose ID is the index digest; inspect picks a platform', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN uname -m > /m\n' });
    const r = kiln(suite, [
      'build',
      '-q',
      '-t',
      'spec/multi:1',
      '--platform',
      'linux/amd64,linux/arm64',
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, ID);
    const id = r.out.trim();
    const rec = await suite.store.images.get('docker.io/spec/multi:1');
    assert.equal(rec?.target.digest, id);
    // type=image defaults to Docker media types, as BuildKit's image exporter does
    assert.equal(rec?.target.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const arm = kiln(suite, ['image', 'inspect', '--platform', 'linux/arm64', 'spec/multi:1']);
    assert.equal(arm.code, 0, arm.err);
    assert.equal(JSON.parse(arm.out)[0].Architecture, 'arm64');
  });
});

describe('kiln build -o -', () => {
  it('writes the rootfs as a tar to stdout and prints no image ID into it', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo piped > /piped\n' });
    const r = spawnSync(KILN, ['build', '-q', '-o', '-', ctx], {
      env: { ...process.env, KILN_ROOT: suite.root },
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, r.stderr.toString());
    const listing = execFileSync('tar', ['-t'], { input: r.stdout, encoding: 'utf8' });
    assert.match(listing, /(^|\n)(\.\/)?piped\n/);
    assert.match(listing, /(^|\n)(\.\/)?bin\/busybox\n/);
    const content = execFileSync('tar', ['-xO', 'piped'], { input: r.stdout, encoding: 'utf8' });
    assert.equal(content, 'piped\n');
  });
});

describe('kiln build inputs from stdin', () => {
  it('`kiln build -` reads the context (with its Dockerfile) as a tar from stdin', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt > /copied\n',
      'msg.txt': 'via stdin tar\n',
    });
    const tar = execFileSync('tar', ['-cf', '-', '-C', ctx, '.']);
    const out = await scratch(suite, 'stdin-ctx');
    const r = kiln(suite, ['build', '-q', '-o', `type=local,dest=${out}`, '-'], { input: tar });
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(out, 'copied'), 'utf8'), 'via stdin tar\n');
  });

  it("`kiln build -` links the context's files into COPY's layer, which is the layer a directory gives", async () => {
    const ctx = await makeContext(suite, {
      // WORKDIR makes /app (with the time it runs): COPY's layer then holds only the context's.
      Dockerfile: 'FROM busybox\nWORKDIR /app\nCOPY . .\nRUN stat -c "links=%h %a" src/run.sh\n',
      'src/run.sh': { data: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'src/data/a.txt': 'aaa\n',
      'top.txt': 'top\n',
    });
    /**
     * The COPY layer of an OCI archive kiln wrote (above busybox's and WORKDIR's), listed with
     * modes, owners, sizes and times, and its files' bytes; without /app itself, whose mtime is
     * the time the COPY wrote into it.
     */
    const copyLayer = (archive: string): string => {
      const blob = (name: string) => execFileSync('tar', ['-xOf', archive, name], { maxBuffer: 64 << 20 });
      const index = JSON.parse(blob('index.json').toString());
      const manifest = JSON.parse(blob(`blobs/sha256/${index.manifests[0].digest.slice(7)}`).toString());
      const layer = blob(`blobs/sha256/${manifest.layers[2].digest.slice(7)}`);
      const list = execFileSync('tar', ['-tvz', '--full-time'], { input: layer, encoding: 'utf8' });
      const bytes = execFileSync('tar', ['-xzO'], { input: layer, encoding: 'utf8' });
      return `${list.replace(/^.* app\/\n/m, '')}${bytes}`;
    };
    const fromDir = join(await scratch(suite, 'link-dir'), 'img.tar');
    const dir = kiln(suite, ['build', '--progress=plain', '-o', `type=oci,dest=${fromDir}`, ctx]);
    assert.equal(dir.code, 0, dir.err);
    assert.match(dir.err, /links=1 755/);
    const fromTar = join(await scratch(suite, 'link-tar'), 'img.tar');
    const tar = execFileSync('tar', ['-cf', '-', '-C', ctx, '.']);
    const piped = kiln(
      suite,
      ['build', '--no-cache', '--progress=plain', '-o', `type=oci,dest=${fromTar}`, '-'],
      {
        input: tar,
      },
    );
    assert.equal(piped.code, 0, piped.err);
    // The file in the layer is the extracted context's own (a second name), with its mode.
    assert.match(piped.err, /links=2 755/);
    assert.equal(copyLayer(fromTar), copyLayer(fromDir));
  });

  it('`-f -` reads the Dockerfile from stdin with a directory context', async () => {
    const ctx = await makeContext(suite, { 'data.txt': 'context file\n' });
    const out = await scratch(suite, 'stdin-df');
    const r = kiln(suite, ['build', '-q', '-f', '-', '-o', `type=local,dest=${out}`, ctx], {
      input: 'FROM busybox\nCOPY data.txt /data.txt\n',
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(out, 'data.txt'), 'utf8'), 'context file\n');
  });

  it('`-f` with a Dockerfile outside the context', async () => {
    const ctx = await makeContext(suite, { 'x.txt': 'x\n' });
    const dfDir = await makeContext(suite, { 'Custom.Dockerfile': 'FROM busybox\nCOPY x.txt /x.txt\n' });
    const out = await scratch(suite, 'custom-df');
    const r = kiln(suite, ['build', '-q', '-f', join(dfDir, 'Custom.Dockerfile'), '-o', out, ctx]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(out, 'x.txt'), 'utf8'), 'x\n');
  });
});

describe('kiln build flags that read the environment', () => {
  it('--build-arg NAME takes the value from the environment; --secret env= and src= reach RUN', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox
ARG FROM_ENV
RUN --mount=type=secret,id=tok --mount=type=secret,id=file,target=/f echo "$FROM_ENV $(cat /run/secrets/tok) $(cat /f)" > /out
`,
    });
    const dir = await scratch(suite, 'env-flags');
    await writeFile(join(dir, 'secret.txt'), 'filesecret');
    const out = join(dir, 'fs');
    const r = kiln(
      suite,
      [
        'build',
        '-q',
        '--build-arg',
        'FROM_ENV',
        '--secret',
        'id=tok,env=KILN_SPEC_TOKEN',
        '--secret',
        `id=file,src=${join(dir, 'secret.txt')}`,
        '-o',
        out,
        ctx,
      ],
      { env: { FROM_ENV: 'env-value', KILN_SPEC_TOKEN: 'envsecret' } },
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(out, 'out'), 'utf8'), 'env-value envsecret filesecret\n');
  });
});

describe('concurrent kiln build processes', () => {
  it('several builds started at once on a fresh root all succeed', async () => {
    const fresh = await openSuite('cli-conc');
    try {
      const runs = [1, 2, 3, 4].map(async (i) => {
        const ctx = await makeContext(fresh, {
          Dockerfile: `FROM busybox\nRUN echo ${i} > /n\nCOPY Dockerfile /d/\nRUN cat /n\n`,
        });
        return await new Promise<{ code: number | null; err: string }>((resolve) => {
          const p = spawn(KILN, ['--debug', 'build', '-q', ctx], {
            env: { ...process.env, KILN_ROOT: fresh.root },
          });
          let err = '';
          p.stderr.on('data', (d) => (err += d));
          p.on('close', (code) => resolve({ code, err }));
        });
      });
      for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.err);
    } finally {
      await fresh.close();
    }
  });
});

describe('kiln build fails clearly', () => {
  it('a failing RUN: non-zero exit, the step, the exit code, file:line with the line, a hint', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN true\nRUN echo boom >&2; exit 3\n',
    });
    const r = kiln(suite, ['build', '--progress', 'plain', ctx]);
    assert.notEqual(r.code, 0);
    assert.equal(r.out, '');
    assert.match(r.err, /\[3\/3\] RUN echo boom >&2; exit 3/);
    assert.match(r.err, /boom/);
    assert.match(r.err, /exited with code 3/);
    assert.ok(r.err.includes(`${join(ctx, 'Dockerfile')}:3:`), r.err);
    assert.match(r.err, /\n\s+3 \| RUN echo boom >&2; exit 3\n/);
    assert.match(r.err, /\nhint: /);
  });

  it('a missing COPY source names the file, the line and a hint', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY missing.txt /m\n' });
    const r = kiln(suite, ['build', '--progress', 'plain', ctx]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /missing\.txt: not found/);
    assert.ok(r.err.includes(`${join(ctx, 'Dockerfile')}:2:`), r.err);
    assert.match(r.err, /hint: .*context/);
  });

  it('a syntax error shows file:line and the offending line before anything runs', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo fine\nFORM busybox\n' });
    const r = kiln(suite, ['build', '--progress', 'plain', ctx]);
    assert.notEqual(r.code, 0);
    assert.ok(r.err.includes(`${join(ctx, 'Dockerfile')}:3:`), r.err);
    assert.match(r.err, /unknown instruction: FORM/);
    assert.match(r.err, /did you mean FROM/);
    assert.match(r.err, /hint: see the instructions in the Dockerfile reference/);
    assert.match(r.err, /\n\s+3 \| FORM busybox\n/);
    assert.doesNotMatch(r.err, /echo fine/, 'nothing ran');
  });

  it('an unknown flag value is refused before building', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\n' });
    const r = kiln(suite, ['build', '--network', 'bogus', ctx]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /unknown --network "bogus"/);
  });

  it('a base image that does not exist fails naming it', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM 127.0.0.1:1/nothing/here:latest\n' });
    const r = kiln(suite, ['build', ctx]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /127\.0\.0\.1:1\/nothing\/here/);
  });
});

describe('kiln build --push', () => {
  it('pushes to a registry that skopeo then reads', async () => {
    const reg = await sharedRegistry();
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo pushed > /p\n' });
    const name = `${reg.host}/kiln-spec/cli-push:latest`;
    const r = kiln(suite, ['build', '-q', '--push', '-t', name, ctx]);
    assert.equal(r.code, 0, r.err);
    const info = JSON.parse(
      execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' }),
    );
    assert.equal(info.Layers.length, 2);
  });
});
