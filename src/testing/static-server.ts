/**
 * A static file server over a directory on 127.0.0.1, in its own process (python3's http.server):
 * tests that run clients with spawnSync would stall a server in the test's own process. Serves a
 * git "dumb http" remote (after `git update-server-info`) and downloads; `.txt` is text/plain.
 */
import { spawn } from 'node:child_process';
import { freePort } from './registry.ts';

export interface StaticServer {
  url: string;
  /** The server's request log so far (one line per request). */
  log(): string;
  stop(): void;
}

export async function startStaticServer(dir: string): Promise<StaticServer> {
  const port = await freePort();
  const proc = spawn(
    'python3',
    ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  proc.stderr.on('data', (d) => {
    log += d;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(url).then(
        () => true,
        () => false,
      )
    )
      return { url, log: () => log, stop: () => proc.kill() };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error(`python3 -m http.server did not start on ${url}: ${log}`);
}
