/**
 * Global setup for `node --test --test-global-setup=src/testing/global-setup.ts`: one plain
 * registry per test run, announced to every test process as KILN_TEST_REGISTRY=127.0.0.1:PORT
 * (test files call `sharedRegistry()` from ./registry.ts, which starts its own without it).
 */
import { startRegistry, type TestRegistry } from './registry.ts';

let registry: TestRegistry | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env.KILN_TEST_REGISTRY) return;
  registry = await startRegistry();
  process.env.KILN_TEST_REGISTRY = registry.host;
}

export async function globalTeardown(): Promise<void> {
  await registry?.stop();
  registry = undefined;
}
