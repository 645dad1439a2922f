import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExecOp } from '../../../graph/index.ts';
import { convert } from './testing.ts';

const execOps = async (dockerfile: string, run?: Parameters<typeof convert>[1]) =>
  (await convert(dockerfile, run)).definition.vertices.filter((v) => v.op.type === 'exec');

describe('the build’s RUN settings in exec ops (as dockerfile2llb puts them into the ExecOp)', () => {
  const settings = {
    run: {
      extraHosts: [{ host: 'db', ip: '10.0.0.5' }],
      shmSize: 2 ** 30,
      ulimits: [
        { name: 'nproc', soft: 100, hard: 200 },
        { name: 'nofile', soft: 1024, hard: 2048 },
      ],
      cgroupParent: 'ci',
    },
  };

  it('every RUN of every stage gets the hosts, limits (by name), cgroup parent and a /dev/shm tmpfs', async () => {
    const ops = await execOps(
      'FROM alpine AS a\nRUN one\nFROM alpine\nCOPY --from=a /x /x\nRUN two\nRUN three\n',
      settings,
    );
    assert.equal(ops.length, 3);
    for (const v of ops) {
      const op = v.op as ExecOp;
      assert.deepEqual(op.extraHosts, [{ host: 'db', ip: '10.0.0.5' }]);
      assert.deepEqual(
        op.ulimits?.map((u) => u.name),
        ['nofile', 'nproc'],
      );
      assert.equal(op.cgroupParent, 'ci');
      assert.deepEqual(op.mounts, [{ type: 'tmpfs', target: '/dev/shm', size: 2 ** 30 }]);
    }
  });

  it('a RUN that mounts /dev/shm itself keeps its own mount', async () => {
    const [v] = await execOps('FROM alpine\nRUN --mount=type=tmpfs,target=/dev/shm,size=1m true\n', settings);
    assert.deepEqual(
      (v.op as ExecOp).mounts.filter((m) => m.target === '/dev/shm').map((m) => m.type === 'tmpfs' && m.size),
      [2 ** 20],
    );
  });

  it('each setting changes the RUN’s digest; none given leaves the op as it was', async () => {
    const digest = async (run?: object) => (await execOps('FROM alpine\nRUN make\n', { run }))[0].digest;
    const plain = await digest();
    assert.equal(await digest({}), plain);
    const seen = new Set([plain]);
    for (const run of [
      { extraHosts: settings.run.extraHosts },
      { shmSize: 2 ** 30 },
      { ulimits: settings.run.ulimits },
      { cgroupParent: 'ci' },
    ])
      seen.add(await digest(run));
    assert.equal(seen.size, 5);
    const [v] = await execOps('FROM alpine\nRUN make\n');
    for (const k of ['extraHosts', 'ulimits', 'cgroupParent']) assert.ok(!(k in v.op), k);
  });
});
