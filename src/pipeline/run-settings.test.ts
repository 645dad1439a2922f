import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import { describe, it } from 'node:test';
import { hostGatewayAddress, parseAddHost, parseShmSize, parseUlimit, runSettings } from './run-settings.ts';

const rejects = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: Error & { code?: string }) => e.code === 'INVALID_FLAG' && message.test(e.message));

describe('--add-host', () => {
  it('takes host:ip and host=ip, several per flag split at commas, IPv6 bare or in brackets', () => {
    assert.deepEqual(parseAddHost('db:10.0.0.1'), [{ host: 'db', ip: '10.0.0.1' }]);
    assert.deepEqual(parseAddHost('db=10.0.0.1,cache=10.0.0.2'), [
      { host: 'db', ip: '10.0.0.1' },
      { host: 'cache', ip: '10.0.0.2' },
    ]);
    assert.deepEqual(parseAddHost('v6:::1'), [{ host: 'v6', ip: '::1' }]);
    assert.deepEqual(parseAddHost('v6=[fd00::2]'), [{ host: 'v6', ip: 'fd00::2' }]);
    assert.deepEqual(parseAddHost('me:host-gateway'), [{ host: 'me', ip: 'host-gateway' }]);
  });

  it('refuses a missing part, an address that is not an IP, and names that would break /etc/hosts', () => {
    rejects(() => parseAddHost('db'), /invalid --add-host "db": expected NAME:IP/);
    rejects(() => parseAddHost(':10.0.0.1'), /invalid --add-host ":10.0.0.1"/);
    rejects(() => parseAddHost('db:'), /invalid --add-host "db:"/);
    rejects(() => parseAddHost('db:example.com'), /"example.com" is not an IP address/);
    rejects(() => parseAddHost('a#b:10.0.0.1'), /"a#b" is not a host name/);
    rejects(() => runSettings({ extraHosts: [{ host: 'a\nb', ip: '10.0.0.1' }] }), /is not a host name/);
  });

  it('host-gateway becomes the host’s address when the build’s settings are made', () => {
    const s = runSettings(
      {
        extraHosts: [
          { host: 'me', ip: 'host-gateway' },
          { host: 'x', ip: '10.9.9.9' },
        ],
      },
      () => '192.0.2.7',
    );
    assert.deepEqual(s.extraHosts, [
      { host: 'me', ip: '192.0.2.7' },
      { host: 'x', ip: '10.9.9.9' },
    ]);
  });

  it('the host’s address is an IPv4 address that is not loopback', () => {
    const ip = hostGatewayAddress();
    assert.ok(isIPv4(ip) && !ip.startsWith('127.'), ip);
  });
});

describe('--shm-size', () => {
  it('takes bytes or binary units as docker does', () => {
    assert.equal(parseShmSize('1024'), 1024);
    assert.equal(parseShmSize('64m'), 64 * 2 ** 20);
    assert.equal(parseShmSize('2g'), 2 * 2 ** 30);
    assert.equal(parseShmSize('2G'), 2 * 2 ** 30);
    assert.equal(parseShmSize('1.5GiB'), 1.5 * 2 ** 30);
    assert.equal(parseShmSize('512kb'), 512 * 1024);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', 'x', '-1', '2x', '1.2.3g', '1e9'])
      rejects(() => parseShmSize(bad), /invalid --shm-size/);
    rejects(() => runSettings({ shmSize: -5 }), /invalid --shm-size "-5"/);
  });

  it('0 keeps the default', () => {
    assert.equal(runSettings({ shmSize: 0 }).shmSize, undefined);
  });
});

describe('--ulimit', () => {
  it('takes type=soft[:hard], hard defaulting to soft, -1 for unlimited', () => {
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { name: 'nofile', soft: 1024, hard: 2048 });
    assert.deepEqual(parseUlimit('nproc=512'), { name: 'nproc', soft: 512, hard: 512 });
    assert.deepEqual(parseUlimit('core=-1'), { name: 'core', soft: -1, hard: -1 });
    assert.deepEqual(parseUlimit('memlock=64:-1'), { name: 'memlock', soft: 64, hard: -1 });
  });

  it('refuses unknown types, values that are not whole numbers, and soft above hard', () => {
    rejects(() => parseUlimit('nofile=x'), /invalid --ulimit "nofile=x"/);
    rejects(() => parseUlimit('nofile'), /invalid --ulimit "nofile": expected TYPE=SOFT/);
    rejects(() => parseUlimit('files=1'), /unknown type "files"/);
    rejects(() => parseUlimit('nofile=1:2:3'), /more than SOFT:HARD/);
    rejects(() => parseUlimit('nofile=-2'), /whole number/);
    rejects(() => parseUlimit('nofile=1.5'), /whole number/);
    rejects(() => parseUlimit('nofile=99999999999999999999'), /whole number/);
    rejects(() => parseUlimit('nofile=2048:1024'), /soft limit is above the hard limit/);
    rejects(() => parseUlimit('nofile=-1:1024'), /soft limit is above the hard limit/);
  });
});

describe('--cgroup-parent', () => {
  it('takes a relative or absolute path; refuses . and .. and systemd’s slice form', () => {
    assert.equal(runSettings({ cgroupParent: 'ci/builds' }).cgroupParent, 'ci/builds');
    assert.equal(runSettings({ cgroupParent: '/ci' }).cgroupParent, '/ci');
    rejects(() => runSettings({ cgroupParent: '../up' }), /invalid --cgroup-parent "..\/up"/);
    rejects(() => runSettings({ cgroupParent: 'a/./b' }), /invalid --cgroup-parent/);
    rejects(() => runSettings({ cgroupParent: 'system.slice:kiln:' }), /systemd/);
  });
});
