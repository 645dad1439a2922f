/**
 * `kiln serve`: the Docker Engine API for builds and images, in the foreground, one log line per
 * request on stderr. SIGTERM/SIGINT stop accepting, give running builds --shutdown-timeout
 * seconds, then cancel them; a second signal exits at once.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { DEFAULT_MAX_BODY } from '../../server/config.ts';
import { DEFAULT_HOST } from '../../server/listen.ts';
import { startServer } from '../../server/server.ts';
import { isoTime } from '../../sys/time.ts';
import { commandSignal, setGracePeriod } from '../signals.ts';
import { collect, parseSize } from './images.ts';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve the Docker Engine API for builds and images (DOCKER_HOST=unix:///run/kiln/kiln.sock)')
    .option(
      '-H, --host <address>',
      `unix://PATH, tcp://ADDR:PORT or fd:// (repeatable; default ${DEFAULT_HOST})`,
      collect,
      [],
    )
    .option('--insecure', 'allow plain HTTP on a loopback tcp:// address')
    .option('--tlsverify', 'require client certificates signed by --tlscacert (needed for tcp:// otherwise)')
    .option('--tlscacert <file>', 'CA certificate clients must be signed by')
    .option('--tlscert <file>', "the server's certificate")
    .option('--tlskey <file>', "the server's key")
    .option('--group <name>', 'group of the unix socket (default: kiln if it exists, else root)')
    .option(
      '--max-body <size>',
      'largest build context or archive accepted, e.g. 4GB',
      String(DEFAULT_MAX_BODY),
    )
    .option('--shutdown-timeout <seconds>', 'how long running builds may finish after SIGTERM', '30')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const grace = Number(o.shutdownTimeout);
      if (!Number.isFinite(grace) || grace < 0)
        throw new KilnError('INVALID_FLAG', `invalid --shutdown-timeout "${o.shutdownTimeout}"`, {
          hint: 'give a number of seconds, e.g. 30',
        });
      const hosts = (o.host as string[]).length ? (o.host as string[]) : [DEFAULT_HOST];
      const log = (line: string) => process.stderr.write(`${isoTime()} ${line}\n`);
      const server = await startServer({
        hosts,
        root: cmd.optsWithGlobals().root as string | undefined,
        insecure: Boolean(o.insecure),
        tlsVerify: Boolean(o.tlsverify),
        tls: { ca: o.tlscacert as string, cert: o.tlscert as string, key: o.tlskey as string },
        group: o.group as string | undefined,
        maxBody: parseSize(o.maxBody as string),
        log,
      });
      for (const a of server.addresses) log(`listening on ${a}`);
      // The signal handlers' hard exit waits for the grace period and the cancellation after it.
      setGracePeriod(grace * 1000 + 10_000);
      const signal = commandSignal();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      log(`shutting down: ${server.inFlight} request(s) running, ${grace}s to finish`);
      await server.stop(grace * 1000);
      log('stopped');
    });
}
