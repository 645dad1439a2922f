/**
 * One image described four ways — a Dockerfile, a kiln YAML file, the graph JSON `kiln debug
 * graph` prints, and a TypeScript program using the public builder — builds to the same image
 * (the same image ID, i.e. config digest: config, history and every layer) with
 * SOURCE_DATE_EPOCH set. The TypeScript way runs as a separate program importing 'kiln', as a
 * user's would; and the built image runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, kilnImportBase } from '../../fidelity/builders.ts';
import { makeWorkspace, type Workspace } from '../../fidelity/corpus.ts';

const EPOCH = '1700000000';
const REPO = resolve(import.meta.dirname, '../../..');
const NODE = join(REPO, 'node_modules/.bin/node');

const DOCKERFILE = `FROM busybox:latest
ENV GREETING=hello NAME=four
LABEL org.example.way=any
WORKDIR /app
COPY src /app/
RUN echo "$GREETING $NAME" > /app/greeting && chmod +x /app/run.sh
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["/app/run.sh"]
CMD ["--serve"]
`;

const YAML = `apiVersion: v1alpha1
images:
- name: app
  from: busybox:latest
  env: {GREETING: hello, NAME: four}
  labels: {org.example.way: any}
  workdir: /app
  copy:
  - {src: src, dst: /app/}
  run: echo "$GREETING $NAME" > /app/greeting && chmod +x /app/run.sh
  user: "1000:1000"
  expose: [8080]
  entrypoint: [/app/run.sh]
  cmd: [--serve]
`;

const PROGRAM = `import { build, image, local } from 'kiln';
const app = image('busybox:latest')
  .env({ GREETING: 'hello', NAME: 'four' })
  .label('org.example.way', 'any')
  .workdir('/app')
  .copy(local(), 'src', '/app/')
  .run('echo "$GREETING $NAME" > /app/greeting && chmod +x /app/run.sh')
  .user('1000:1000')
  .expose(8080)
  .entrypoint(['/app/run.sh'])
  .cmd(['--serve']);
const result = await build(
  { graph: app, context: process.argv[2], tags: ['four:ts'], sourceDateEpoch: ${EPOCH}, buildArgs: { SOURCE_DATE_EPOCH: '${EPOCH}' } },
  { root: process.argv[3] },
);
console.log(result.imageId);
`;

describe('one image described four ways', () => {
  let ws: Workspace;
  let root: string;
  let ctx: string;
  const env = { ...process.env, SOURCE_DATE_EPOCH: EPOCH };
  const kiln = (args: string[], input?: string) => {
    const r = spawnSync(KILN, ['--root', root, ...args], {
      input,
      encoding: 'utf8',
      env,
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, `kiln ${args.join(' ')}:\n${r.stderr.slice(-3000)}`);
    return r.stdout.trim();
  };
  before(() => {
    ws = makeWorkspace(mkdtempSync(join(tmpdir(), 'kiln-four-')));
    root = join(ws.scratch, 'root');
    mkdirSync(root);
    kilnImportBase(root, ws.rootfsTar);
    ctx = join(ws.scratch, 'ctx');
    mkdirSync(join(ctx, 'src'), { recursive: true });
    writeFileSync(join(ctx, 'src/run.sh'), '#!/bin/sh\ncat /app/greeting\n');
    writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
    writeFileSync(join(ctx, 'kiln.yaml'), YAML);
  });
  after(() => {
    if (ws) rmSync(ws.scratch, { recursive: true, force: true });
  });

  it('Dockerfile, YAML, graph JSON and TypeScript give the same image ID', () => {
    const fromDockerfile = kiln(['build', '-q', '-t', 'four:dockerfile', ctx]);
    assert.match(fromDockerfile, /^sha256:[0-9a-f]{64}$/);
    const fromYaml = kiln(['build', '-q', '-f', join(ctx, 'kiln.yaml'), '-t', 'four:yaml', ctx]);
    const graph = kiln(['debug', 'graph', ctx]);
    const fromGraph = kiln(['build', '-q', '--graph', '-', '-t', 'four:graph', ctx], graph);
    // The program is the user's: outside the repository, importing the package by name.
    const project = join(ws.scratch, 'program');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'p', type: 'module', private: true }),
    );
    symlinkSync(REPO, join(project, 'node_modules/kiln'));
    writeFileSync(join(project, 'build.ts'), PROGRAM);
    const ts = spawnSync(NODE, ['--no-warnings', 'build.ts', ctx, root], {
      cwd: project,
      encoding: 'utf8',
      env,
    });
    assert.equal(ts.status, 0, ts.stderr.slice(-3000));
    const fromTypeScript = ts.stdout.trim().split('\n').at(-1);
    assert.deepEqual(
      { yaml: fromYaml, graph: fromGraph, typescript: fromTypeScript },
      { yaml: fromDockerfile, graph: fromDockerfile, typescript: fromDockerfile },
    );
    // And it is an image that works.
    const out = join(ws.scratch, 'out');
    kiln(['build', '-q', '-o', `type=local,dest=${out}`, ctx]);
    const run = spawnSync('chroot', [out, '/app/run.sh'], { encoding: 'utf8' });
    assert.equal(run.stdout, 'hello four\n');
  });
});
