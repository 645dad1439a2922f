import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { namespacedResolvConf, writeEtcFiles } from './etc.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-etc-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(...texts: (string | undefined)[]): Promise<string[]> {
  return Promise.all(
    texts.map(async (t, i) => {
      const p = join(dir, `resolv-${Math.random().toString(36).slice(2)}-${i}`);
      if (t !== undefined) await writeFile(p, t);
      return p;
    }),
  );
}

describe('resolv.conf for the default network', () => {
  it('keeps the host’s IPv4 nameservers that are not loopback, with search and options', async () => {
    const conf = await namespacedResolvConf(
      await files(
        '# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions edns0\n',
      ),
    );
    assert.equal(conf, 'nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n');
  });

  it('with only a loopback stub resolver, uses the stub’s upstream list (systemd-resolved)', async () => {
    const conf = await namespacedResolvConf(
      await files('nameserver 127.0.0.53\nsearch lan\n', 'nameserver 198.51.100.1\nsearch other\n'),
    );
    assert.equal(conf, 'nameserver 198.51.100.1\nsearch lan\n');
  });

  it('with no usable nameserver anywhere, points at slirp4netns’s DNS forwarder', async () => {
    assert.equal(
      await namespacedResolvConf(await files('nameserver 127.0.0.1\noptions ndots:2\n', undefined)),
      'nameserver 10.0.2.3\noptions ndots:2\n',
    );
    assert.equal(await namespacedResolvConf(await files(undefined, undefined)), 'nameserver 10.0.2.3\n');
  });
});

describe('/etc files of a RUN', () => {
  it('hosts is BuildKit’s: localhost with the hostname, the IPv6 names, then extra hosts', async () => {
    const out = await mkdtemp(join(dir, 'bundle-'));
    const etc = await writeEtcFiles(out, 'buildkitsandbox', 'none', [{ host: 'db', ip: '192.0.2.7' }]);
    assert.equal(
      await readFile(etc.hosts, 'utf8'),
      '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n192.0.2.7\tdb\n',
    );
    assert.deepEqual(Object.keys(etc).sort(), ['hosts', 'resolvConf'], 'no /etc/hostname, as in BuildKit');
  });
});
