import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultRoot, resolveRoot } from './root.ts';

describe('state root', () => {
  it('root uses /var/lib/kiln', () => assert.equal(defaultRoot({}, 0), '/var/lib/kiln'));
  it('others use $XDG_DATA_HOME/kiln', () =>
    assert.equal(defaultRoot({ XDG_DATA_HOME: '/x/data', HOME: '/h' }, 1000), '/x/data/kiln'));
  it('others without XDG_DATA_HOME use ~/.local/share/kiln', () =>
    assert.equal(defaultRoot({ HOME: '/home/u' }, 1000), '/home/u/.local/share/kiln'));
  it('a relative XDG_DATA_HOME is ignored', () =>
    assert.equal(defaultRoot({ XDG_DATA_HOME: 'rel', HOME: '/home/u' }, 1000), '/home/u/.local/share/kiln'));
  it('--root beats KILN_ROOT, which beats the default', () => {
    assert.equal(resolveRoot('/opt/a', { KILN_ROOT: '/opt/b' }), '/opt/a');
    assert.equal(resolveRoot(undefined, { KILN_ROOT: '/opt/b' }), '/opt/b');
  });
});
