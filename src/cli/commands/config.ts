/**
 * `kiln config [options] CTR`: change the image config a working container's next commit
 * writes, with buildah config's options (`KEY-` removes an env, label, annotation, port or volume).
 */
import type { Command } from 'commander';
import type { ConfigChanges } from '../../working/config.ts';
import { withContainers } from './from.ts';

const collect = (v: string, acc: string[]) => [...acc, v];

export function register(program: Command): void {
  program
    .command('config')
    .description('Update the image configuration of a working container')
    .argument('<container>', 'container name or ID')
    .option('-e, --env <KEY=VALUE>', 'set (KEY=VALUE) or remove (KEY-) an environment variable', collect, [])
    .option('--cmd <cmd>', 'default command: a JSON array or shell words ("" clears it)')
    .option('--entrypoint <entrypoint>', 'entrypoint: a JSON array, or a shell command run by /bin/sh -c')
    .option('-l, --label <KEY=VALUE>', 'set (KEY=VALUE) or remove (KEY-) a label', collect, [])
    .option(
      '-a, --annotation <KEY=VALUE>',
      'set (KEY=VALUE) or remove (KEY-) a manifest annotation',
      collect,
      [],
    )
    .option('--workingdir <dir>', 'default working directory')
    .option('-u, --user <user[:group]>', 'default user')
    .option('-p, --port <port[/proto]>', 'expose a port (PORT- removes it)', collect, [])
    .option('-v, --volume <path>', 'declare a volume (PATH- removes it)', collect, [])
    .option('--author <author>', 'image author')
    .option('--created-by <text>', 'created_by of the next commit’s history entry')
    .option('--stop-signal <signal>', 'signal that stops a container of the image')
    .option('--healthcheck <cmd>', 'health check: "CMD args", "CMD-SHELL command" or "NONE"')
    .option('--healthcheck-interval <duration>', 'time between checks')
    .option('--healthcheck-retries <n>', 'failures before unhealthy')
    .option('--healthcheck-start-period <duration>', 'start-up grace period')
    .option('--healthcheck-start-interval <duration>', 'time between checks during the start period')
    .option('--healthcheck-timeout <duration>', 'time a check may take')
    .option('--shell <shell>', 'shell for shell-form commands: a JSON array or words')
    .option('--onbuild <instruction>', 'add an ONBUILD trigger (repeatable)', collect, [])
    .option('--history-comment <comment>', 'comment of the next commit’s history entry')
    .option('--os <os>', 'operating system of the image')
    .option('--arch <arch>', 'architecture of the image')
    .option('--variant <variant>', 'architecture variant of the image')
    .action(async (ref: string, o, c: Command) => {
      const changes: ConfigChanges = {
        env: o.env,
        cmd: o.cmd,
        entrypoint: o.entrypoint,
        labels: o.label,
        annotations: o.annotation,
        workingDir: o.workingdir,
        user: o.user,
        ports: o.port,
        volumes: o.volume,
        author: o.author,
        createdBy: o.createdBy,
        stopSignal: o.stopSignal,
        healthcheck: o.healthcheck,
        healthcheckInterval: o.healthcheckInterval,
        healthcheckRetries: o.healthcheckRetries,
        healthcheckStartPeriod: o.healthcheckStartPeriod,
        healthcheckStartInterval: o.healthcheckStartInterval,
        healthcheckTimeout: o.healthcheckTimeout,
        shell: o.shell,
        onbuild: o.onbuild,
        historyComment: o.historyComment,
        os: o.os,
        arch: o.arch,
        variant: o.variant,
      };
      await withContainers(c, async (w) => (await w.get(ref)).config(changes));
    });
}
