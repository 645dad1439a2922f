import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AMD64, convert, MemoryResolver } from '../dockerfile/convert/testing.ts';
import { convertImage, type Image, image, local } from './image.ts';

const opts = () => ({ buildArgs: {}, platform: AMD64, buildPlatform: AMD64, resolver: new MemoryResolver() });

describe('the TypeScript builder', () => {
  it('is immutable: each step returns a new image and leaves the old one as it was', () => {
    const base = image('busybox');
    const a = base.run('make');
    const b = base.env('A', '1');
    assert.notEqual(a, base);
    assert.equal(base.steps.length, 0);
    assert.deepEqual([a.steps.map((s) => s.t), b.steps.map((s) => s.t)], [['run'], ['env']]);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.steps));
    assert.throws(() => (a.steps as unknown[]).push({}));
  });

  it('gives the graph and config the same multi-stage Dockerfile gives', async () => {
    const build = image('alpine:3').as('build').workdir('/src').copy(local(), '.', '.').run('make out');
    const app = image('busybox')
      .arg('V', '1')
      .env({ A: 'x y', B: '$V' })
      .label('l', 'v')
      .copy(build, '/src/out', '/bin/out', { chmod: '0755' })
      .copy(local('assets'), 'img', '/srv/img')
      .user('app')
      .expose(8080, '53/udp')
      .entrypoint(['/bin/out'])
      .cmd('serve');
    const df = `FROM alpine:3 AS build
WORKDIR /src
COPY . .
RUN make out
FROM busybox
ARG V=1
ENV A="x y" B=$V
LABEL l=v
COPY --from=build --chmod=0755 /src/out /bin/out
COPY --from=assets img /srv/img
USER app
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/out"]
CMD serve
`;
    const namedContexts = { assets: '/some/dir' };
    const t = await convertImage(app, { ...opts(), namedContexts });
    const d = await convert(df, { namedContexts });
    assert.equal(t.root?.digest, d.root?.digest);
    assert.deepEqual(t.config, d.config);
  });

  it('an image used twice is one stage; two different images may not share a name', async () => {
    const base = image('busybox').run('make');
    const two = image('busybox').copy(base, '/a', '/a').copy(base, '/b', '/b');
    const r = await convertImage(two, opts());
    assert.equal(r.definition.vertices.filter((v) => v.op.type === 'exec').length, 1);
    const x = image('busybox').as('same').run('x');
    const y = image('busybox').as('same').run('y');
    await assert.rejects(
      convertImage(image(x).copy(y, '/y', '/y'), opts()),
      /two different images are named "same"/,
    );
    assert.throws(() => image('busybox').as('Not A Name'), /invalid image name/);
    assert.throws(() => image(''), /needs a reference/);
  });

  it('says where in the program a failing step was written', async () => {
    const bad = image('busybox').copy(local(), 'a', '/a', { chmod: 'u+q' });
    await assert.rejects(
      convertImage(bad, opts()),
      (err: { location?: { file: string; startLine: number } }) => {
        assert.ok(err.location?.file.endsWith('image.test.ts'), JSON.stringify(err.location));
        assert.ok((err.location?.startLine ?? 0) > 0);
        return true;
      },
    );
    await assert.rejects(convertImage({} as Image, opts()), /takes an image made with image\(\)/);
  });
});
