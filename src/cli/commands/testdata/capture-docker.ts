/**
 * Makes docker-formats.json, the goldens the format tests compare kiln's output with: a fake
 * Docker Engine API on a unix socket serves fixed images, history and disk usage, and the Docker
 * CLI (28.x, DOCKER=path to override) prints them with each flag combination. Run it by hand:
 *   node src/cli/commands/testdata/capture-docker.ts
 * The suite does not need docker: it reads the recorded outputs.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const t0 = Math.floor(Date.now() / 1000);
const h = (c: string) => `sha256:${c.repeat(64)}`;
const images = [
  { Id: h('d'), ParentId: '', RepoTags: ['<none>:<none>'], RepoDigests: ['<none>@<none>'], Created: t0 - 5, Size: 123, SharedSize: -1, Labels: null, Containers: -1 },
  {
    Id: h('a'),
    ParentId: '',
    RepoTags: ['docker.io/library/busybox:latest', 'example.com:5000/team/app:v1.2.3-some-very-long-tag-name'],
    RepoDigests: ['busybox@' + h('b'), 'example.com:5000/team/app@' + h('b')],
    Created: t0 - 7200 - 1860,
    Size: 4261550,
    SharedSize: -1,
    Labels: { a: 'b' },
    Containers: -1,
  },
  { Id: h('c'), ParentId: '', RepoTags: null, RepoDigests: null, Created: t0 - 86400 * 20, Size: 999999, SharedSize: -1, Labels: null, Containers: -1 },
];
const history = [
  { Id: h('a'), Created: t0 - 100, CreatedBy: 'RUN /bin/sh -c echo hello world this is a long command that goes on and on # buildkit', Tags: ['busybox:latest'], Size: 1234567, Comment: 'buildkit.dockerfile.v0' },
  { Id: '<missing>', Created: t0 - 200, CreatedBy: 'ENV\tA=1', Tags: null, Size: 0, Comment: '' },
  { Id: '<missing>', Created: 0, CreatedBy: '/bin/sh -c #(nop) ADD file:abc in / ', Tags: null, Size: 4261550, Comment: '' },
];
const buildCache = [
  { ID: 'xyz123abcdefghijklmnopqrs', Parents: [], Type: 'regular', Description: 'build step', InUse: false, Shared: false, Size: 12345, CreatedAt: new Date((t0 - 3600) * 1000).toISOString(), LastUsedAt: new Date((t0 - 60) * 1000).toISOString(), UsageCount: 2 },
];
const df = { LayersSize: 5000000, Images: images.map((i) => ({ ...i, SharedSize: 100, Containers: 0 })), Containers: [], Volumes: [], BuildCache: buildCache, BuilderSize: 12345 };

const sock = join(process.env.TMPDIR ?? '/tmp', `kiln-fake-docker-${process.pid}.sock`);
const server = createServer((req, res) => {
  const u = (req.url ?? '').replace(/^\/v[0-9.]+/, '');
  const send = (o: unknown) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
    res.end(JSON.stringify(o));
  };
  if (u.startsWith('/_ping')) return send('OK');
  if (u.startsWith('/images/json')) return send(images);
  if (u.startsWith('/system/df')) return send(df);
  if (/\/images\/.*\/history/.test(u)) return send(history);
  res.writeHead(404);
  res.end('{}');
});
await new Promise<void>((resolve) => server.listen(sock, resolve));
const docker = process.env.DOCKER ?? '/usr/local/bin/docker';
const run = (args: string[]) =>
  new Promise<string>((resolve, reject) => {
    // Async: the fake server answers from this process.
    import('node:child_process').then(({ execFile }) =>
      execFile(docker, args, { env: { ...process.env, DOCKER_HOST: `unix://${sock}`, TZ: 'UTC' } }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
  });
const commands: Record<string, string[]> = {
  images: ['images'],
  imagesDigests: ['images', '--digests'],
  imagesNoTrunc: ['images', '--no-trunc'],
  imagesQuiet: ['images', '-q'],
  imagesJson: ['images', '--format', 'json'],
  imagesTemplate: ['images', '--format', 'table {{.ID}}\\t{{.Repository}}:{{.Tag}}\\t{{.Size}}\\t{{.CreatedAt}}'],
  imagesDigestTable: ['images', '--digests', '--format', 'table {{.Repository}}\\t{{.Size}}'],
  history: ['image', 'history', 'x'],
  historyRaw: ['image', 'history', '-H=false', '--no-trunc', 'x'],
  historyJson: ['image', 'history', '--format', 'json', 'x'],
  historyQuiet: ['image', 'history', '-q', 'x'],
  df: ['system', 'df'],
  dfJson: ['system', 'df', '--format', 'json'],
  dfVerbose: ['system', 'df', '-v'],
};
const outputs: Record<string, string> = {};
for (const [k, args] of Object.entries(commands)) outputs[k] = await run(args);
server.close();
rmSync(sock, { force: true });
const version = execFileSync(docker, ['--version'], { encoding: 'utf8' }).trim();
writeFileSync(
  join(import.meta.dirname, 'docker-formats.json'),
  `${JSON.stringify({ docker: version, t0, images, history, df, outputs }, null, 2)}\n`,
);
