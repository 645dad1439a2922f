/** `kiln logout HOST`: remove saved credentials for a registry. */
import type { Command } from 'commander';
import { logoutRegistry } from '../../registry/login.ts';

export function register(program: Command): void {
  program
    .command('logout')
    .description('Remove saved credentials for a registry')
    .argument('[server]', 'registry host (default docker.io)', 'docker.io')
    .action(async (server: string) => {
      const { host, removed } = await logoutRegistry(server);
      process.stdout.write(
        removed ? `Removing login credentials for ${host}\n` : `Not logged in to ${host}\n`,
      );
    });
}
