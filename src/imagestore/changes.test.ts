import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import { applyChanges, splitWords } from './changes.ts';

describe('--change instructions', () => {
  const cases: [string, string[], object][] = [
    ['CMD in JSON form', ['CMD ["/bin/sh", "-c", "echo hi"]'], { Cmd: ['/bin/sh', '-c', 'echo hi'] }],
    ['CMD in shell form', ['CMD echo hi'], { Cmd: ['/bin/sh', '-c', 'echo hi'] }],
    ['ENTRYPOINT in JSON form', ['ENTRYPOINT ["/bin/busybox"]'], { Entrypoint: ['/bin/busybox'] }],
    ['ENV key=value pairs with quotes', ['ENV A=1 B="two words"'], { Env: ['A=1', 'B=two words'] }],
    ['ENV legacy form and override', ['ENV A 1', 'ENV A=2'], { Env: ['A=2'] }],
    ['EXPOSE adds /tcp by default', ['EXPOSE 80 53/UDP'], { ExposedPorts: { '80/tcp': {}, '53/udp': {} } }],
    ['LABEL pairs', ["LABEL a=b 'c d'=e"], { Labels: { a: 'b', 'c d': 'e' } }],
    [
      'VOLUME in both forms',
      ['VOLUME /data /logs', 'VOLUME ["/x"]'],
      { Volumes: { '/data': {}, '/logs': {}, '/x': {} } },
    ],
    [
      'USER, WORKDIR, STOPSIGNAL',
      ['user app', 'WORKDIR /srv', 'STOPSIGNAL SIGINT'],
      { User: 'app', WorkingDir: '/srv', StopSignal: 'SIGINT' },
    ],
  ];
  for (const [name, changes, want] of cases) {
    it(name, () => assert.deepEqual(applyChanges({}, changes), want));
  }

  it('instructions that make no sense on import are rejected with INVALID_CHANGE', () => {
    assert.throws(
      () => applyChanges({}, ['RUN echo']),
      (e) => hasCode(e, 'INVALID_CHANGE'),
    );
    assert.throws(
      () => applyChanges({}, ['EXPOSE http']),
      (e) => hasCode(e, 'INVALID_CHANGE'),
    );
    assert.throws(
      () => applyChanges({}, ['USER a b']),
      (e) => hasCode(e, 'INVALID_CHANGE'),
    );
  });

  it('splitWords honours quotes and escapes', () => {
    assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', '']);
  });
});
