/**
 * Other Engine API clients against a real `kiln serve`: docker-compose (Debian's 1.29) builds a
 * two-service project, and docker-py (python3-docker) builds, lists and pushes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type Served, serve } from './helpers.ts';

describe('kiln serve with docker-compose and docker-py', () => {
  let s: Served;
  before(async () => {
    s = await serve('clients');
  });
  after(async () => {
    await s?.close();
  });

  it('docker-compose builds both services of a compose file', async () => {
    const ctx = await s.context({
      'web/Dockerfile': 'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greeting\n',
      'worker/Dockerfile': 'FROM busybox\nCOPY job.sh /job.sh\n',
      'worker/job.sh': 'echo working\n',
    });
    await writeFile(
      join(ctx, 'docker-compose.yml'),
      [
        'version: "3.7"',
        'services:',
        '  web:',
        '    build:',
        '      context: ./web',
        '      args:',
        '        GREETING: hello-compose',
        '    image: compose-web:1',
        '  worker:',
        '    build: ./worker',
        '    image: compose-worker:1',
        '',
      ].join('\n'),
    );
    const r = s.run('/usr/bin/docker-compose', ['-p', 'kilnproj', 'build'], { cwd: ctx });
    assert.equal(r.code, 0, `${r.err}\n${r.out}\n${s.log()}`);
    const tags = s.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(tags, /^compose-web:1$/m);
    assert.match(tags, /^compose-worker:1$/m);
    const hist = s.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'compose-web:1']);
    assert.match(hist, /GREETING=hello-compose/);
  });

  it('docker-py builds, lists and pushes', async () => {
    const reg = await sharedRegistry();
    const ctx = await s.context({ Dockerfile: 'FROM busybox\nRUN echo py > /py\n' });
    const script = `
import docker, json, sys
c = docker.DockerClient(base_url=${JSON.stringify(s.host)})
img, logs = c.images.build(path=${JSON.stringify(ctx)}, tag='py-built:1')
tags = [t for i in c.images.list() for t in i.tags]
repo = '${reg.host}/serve-py/app'
img.tag(repo, '1')
out = [json.loads(l) if isinstance(l, str) else l for l in c.images.push(repo, tag='1', stream=True, decode=True)]
errors = [m for m in out if 'error' in m]
print(json.dumps({'id': img.id, 'tags': tags, 'errors': errors, 'aux': [m['aux'] for m in out if 'aux' in m]}))
`;
    const r = s.run('/usr/bin/python3', ['-c', script]);
    assert.equal(r.code, 0, `${r.err}\n${r.out}\n${s.log()}`);
    const res = JSON.parse(r.out.trim().split('\n').at(-1)!) as {
      id: string;
      tags: string[];
      errors: unknown[];
      aux: { Digest: string }[];
    };
    assert.match(res.id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(res.tags.includes('py-built:1'), res.tags.join(','));
    assert.deepEqual(res.errors, []);
    assert.match(res.aux[0]?.Digest ?? '', /^sha256:/);
    // What was pushed is in the registry: pulled back through kiln.
    const pulled = s.kiln(['pull', '-q', `${reg.host}/serve-py/app:1`]);
    assert.equal(pulled.code, 0, pulled.err);
  });
});
