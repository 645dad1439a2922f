import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hasCode } from '../../../errors/errors.ts';
import { sharedTestdata } from '../../../testing/shared-testdata.ts';
import { parsePort, parsePorts } from './expose.ts';

interface Case {
  name: string;
  kind: 'parsePort' | 'parsePorts';
  input: string | string[];
  expectError: boolean;
  expectedError?: string;
  expected?: string[];
}

const cases: Case[] = JSON.parse(
  readFileSync(sharedTestdata('buildkit-go-tests', 'dockerfile2llb_convert_expose_test.json'), 'utf8'),
);

describe('EXPOSE port specs (BuildKit convert_expose_test)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const run = () =>
        c.kind === 'parsePort' ? parsePort(c.input as string) : parsePorts(c.input as string[]);
      if (c.expectError) {
        assert.throws(run, (e: unknown) => {
          assert.ok(hasCode(e, 'DOCKERFILE_INVALID_PORT'));
          if (c.expectedError) assert.equal((e as Error).message, c.expectedError);
          return true;
        });
      } else {
        assert.deepEqual(run(), c.expected);
      }
    });
  }
});
