/**
 * COPY --from keyed by the files it copies, in rootless kiln: a warm build finds the copy by its
 * cheap key's link without reading the source stage, so it stays outside the user namespace; a
 * source stage that changed but left the copied files as they were is built inside, where the
 * copy and the step after it are read by content and stay cached, with the same image.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertRepoReachable,
  type Dirs,
  ensureUser,
  kilnAs,
  rootWithBusybox,
  TEST_USER,
  type TestUser,
  tempDirs,
  writeContext,
} from './helpers.ts';

const DOCKERFILE = `FROM busybox AS build
ARG V=1
RUN echo $V > /v && mkdir /out && echo same > /out/a && chown 7:8 /out/a
FROM busybox
COPY --from=build /out /out
RUN cat /out/a > /final
`;

let dirs: Dirs;
let user: TestUser;
before(async () => {
  user = ensureUser(TEST_USER, true);
  assertRepoReachable(user);
  dirs = await tempDirs('rootless-copy-from');
});
after(() => dirs?.close());

test('a rootless COPY --from: warm outside the namespace, a changed stage with the same files cached', async () => {
  const root = await rootWithBusybox(join(dirs.dir, 'root'), user);
  const ctx = await writeContext(join(dirs.dir, 'ctx'), { Dockerfile: DOCKERFILE }, user);
  const build = (...extra: string[]) =>
    kilnAs(user, ['build', '--network', 'none', '--progress', 'plain', '-t', 'cf', ...extra, ctx], {
      KILN_ROOT: root,
    });
  const cold = build();
  assert.equal(cold.code, 0, cold.err);
  const warm = build();
  assert.equal(warm.code, 0, warm.err);
  assert.match(warm.err, /every step cached: outside kiln's user namespace/);
  assert.equal(warm.out, cold.out);
  const changed = build('--build-arg', 'V=2');
  assert.equal(changed.code, 0, changed.err);
  assert.match(changed.err, /COPY --from=build \/out \/out\n#\d+ CACHED/);
  assert.match(changed.err, /RUN cat \/out\/a > \/final\n#\d+ CACHED/);
  assert.equal(changed.out, cold.out, 'the same image');
  const again = build('--build-arg', 'V=2');
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /every step cached: outside kiln's user namespace/);
});
