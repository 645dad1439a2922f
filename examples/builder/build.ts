/**
 * examples/hello's image described in TypeScript instead of a Dockerfile. Run it as root (a
 * build runs RUN steps in containers): `node examples/builder/build.ts`. Each builder method
 * returns a new, immutable image value; `build({ graph })` solves it as `kiln build` would.
 */
import { join } from 'node:path';
import { build, image, local } from 'kiln';

const compiled = image('busybox')
  .as('build')
  .workdir('/src')
  .copy(local(), 'greet.sh', '.')
  .run('chmod +x greet.sh && ./greet.sh kiln > /src/out.txt');

const app = image('busybox')
  .label('org.opencontainers.image.title', 'hello')
  .copy(compiled, '/src/out.txt', '/srv/out.txt')
  .copy(local(), 'greet.sh', '/usr/local/bin/greet')
  .env('GREETING', 'hello')
  .cmd(['/usr/local/bin/greet', 'world']);

// local() is the build context: here examples/hello, whose greet.sh the image copies.
const result = await build({ graph: app, context: join(import.meta.dirname, '../hello'), tags: ['hello:ts'] });
console.log(result.imageId);
