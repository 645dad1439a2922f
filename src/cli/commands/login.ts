/** `kiln login [-u U] [-p P | --password-stdin] HOST`: check credentials, save them like docker. */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { loginRegistry } from '../../registry/login.ts';
import { addRegistryConfigOption, registryClient } from './pull.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function register(program: Command): void {
  addRegistryConfigOption(
    program
      .command('login')
      .description(
        'Log in to a registry (credentials go to $DOCKER_CONFIG/config.json or its credential helper)',
      )
      .argument('[server]', 'registry host, e.g. registry.example.com:5000 (default docker.io)', 'docker.io')
      .option('-u, --username <user>', 'user name')
      .option('-p, --password <password>', 'password (prefer --password-stdin)')
      .option('--password-stdin', 'read the password from stdin'),
  ).action(async (server: string, opts, c: Command) => {
    if (opts.password && opts.passwordStdin) {
      throw new KilnError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
    }
    if (!opts.username)
      throw new KilnError('INVALID_ARGUMENT', 'a user name is required', { hint: 'pass -u USER' });
    const password = opts.passwordStdin ? await readStdin() : (opts.password as string | undefined);
    if (!password)
      throw new KilnError('INVALID_ARGUMENT', 'a password is required', {
        hint: 'pass --password-stdin and pipe the password in',
      });
    if (opts.password)
      process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    const host = await loginRegistry(registryClient(c), server, { username: opts.username, password });
    process.stdout.write(`Login Succeeded (${host})\n`);
  });
}
