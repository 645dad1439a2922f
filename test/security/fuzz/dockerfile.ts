/**
 * Fuzz target: Dockerfiles, random from a grammar of every instruction and flag, or mutated from
 * the fidelity corpus, parsed and converted (the converter expands every word) against base
 * images whose configs are random too (env, labels, ONBUILD triggers); plus the shell lexer on
 * random words. No build runs.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Dockerfile syntax, not a template
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertDockerfile } from '../../../src/frontend/dockerfile/convert/index.ts';
import type { ImageConfigResolver } from '../../../src/frontend/dockerfile/convert/types.ts';
import { ShellLex } from '../../../src/frontend/dockerfile/shell/lex.ts';
import type { ImageConfig } from '../../../src/oci/config.ts';
import type { Platform } from '../../../src/oci/platform.ts';
import { mutate, type Rng } from './random.ts';
import type { FuzzTarget } from './target.ts';

const CASES = join(import.meta.dirname, '..', '..', 'fidelity', 'cases');
const corpus = readdirSync(CASES).map((c) => readFileSync(join(CASES, c, 'Dockerfile')));

const VARS = ['A', 'B', 'HOME', 'PATH', 'TARGETPLATFORM', 'BUILDARCH', 'x_1', 'É'];
const INTERESTING = [
  '$',
  '${',
  '}',
  '${A}',
  '${A:-${B}}',
  '${A#*}',
  '${A%%*.?}',
  '${A//a/${A}}',
  '${A/*a*b/x}',
  '\\',
  '`',
  '"',
  "'",
  '\n',
  '\\\n',
  '<<EOF\n',
  '\nEOF\n',
  '<<-"X"\n',
  '[',
  ']',
  '["a",',
  '--from=',
  '--mount=type=cache,target=',
  '--platform=$BUILDPLATFORM',
  ' AS ',
  '\t',
  '\u0000',
  '\uFFFD',
  '# escape=`\n',
  '# syntax=x\n',
  'FROM scratch\n',
  'ONBUILD ',
].map((s) => Buffer.from(s));

function word(rng: Rng, depth = 0): string {
  let w = '';
  for (let n = 1 + rng.int(4); n > 0; n--) {
    switch (rng.int(9)) {
      case 0:
        w += `$${rng.pick(VARS)}`;
        break;
      case 1:
        w += `\${${rng.pick(VARS)}${rng.pick([':-', '-', ':+', '+', '?', ':?', '#', '##', '%', '%%', '/', '//'])}${depth < 2 ? word(rng, depth + 1) : 'x'}${rng.chance(0.3) ? `/${word(rng, 2)}` : ''}}`;
        break;
      case 2:
        w += `"${rng.string(rng.size(8), 'ab $"\\\'')}"`;
        break;
      case 3:
        w += `'${rng.string(rng.size(8), 'ab $"\\')}'`;
        break;
      case 4:
        w += rng.string(rng.size(6), '*?[]/.-=:,');
        break;
      default:
        w += rng.string(1 + rng.size(10), 'abcxyz0123/._-');
    }
  }
  return w;
}

function words(rng: Rng): string {
  return Array.from({ length: 1 + rng.int(4) }, () => word(rng)).join(rng.pick([' ', '  ', ' \\\n ']));
}

/** A word without blanks or quotes (one argument whatever the expansion). */
function token(rng: Rng): string {
  return word(rng).replace(/[\s"']/g, '');
}

function kv(rng: Rng, valueless = false): string {
  return Array.from({ length: 1 + rng.int(3) }, () =>
    valueless && rng.chance(0.3)
      ? rng.pick(VARS)
      : `${rng.pick(VARS)}=${rng.chance(0.7) ? token(rng) : word(rng)}`,
  ).join(' ');
}

function json(rng: Rng, min = 0): string {
  return JSON.stringify(Array.from({ length: min + rng.int(4) }, () => word(rng)));
}

function instruction(rng: Rng, stages: string[]): string {
  const from = () => (stages.length && rng.chance(0.5) ? rng.pick(stages) : token(rng));
  switch (rng.chance(0.02) ? 19 : rng.int(19)) {
    case 0: {
      const name = rng.string(1 + rng.int(6), 'abcdef-_');
      stages.push(name);
      return `FROM ${rng.chance(0.3) ? '--platform=$BUILDPLATFORM ' : ''}${rng.pick(['busybox', 'scratch', '$A', token(rng), ...stages])}${rng.chance(0.5) ? ` AS ${name}` : ''}`;
    }
    case 1:
      return `ARG ${kv(rng, true)}`;
    case 2:
      return `ENV ${kv(rng)}`;
    case 3:
      return `LABEL ${kv(rng)}`;
    case 4:
      return `RUN ${rng.chance(0.3) ? `--mount=type=${rng.pick(['cache', 'bind', 'tmpfs', 'secret', 'ssh', 'x'])},target=${word(rng)}${rng.chance(0.5) ? `,from=${from()}` : ''} ` : ''}${rng.chance(0.2) ? `--network=${word(rng)} ` : ''}${rng.chance(0.3) ? json(rng) : words(rng)}`;
    case 5:
      return `RUN <<EOF${rng.chance(0.5) ? ' bash' : ''}\n${words(rng)}\nEOF`;
    case 6:
      return `COPY ${rng.chance(0.3) ? `--from=${from()} ` : ''}${rng.chance(0.2) ? `--chown=${token(rng)} ` : ''}${rng.chance(0.2) ? `--chmod=${rng.string(3, rng.chance(0.8) ? '01234567' : '0123456789x')} ` : ''}${rng.chance(0.1) ? '--link ' : ''}${rng.chance(0.1) ? '--parents ' : ''}${rng.chance(0.1) ? `--exclude=${token(rng)} ` : ''}${words(rng)} ${token(rng)}`;
    case 7:
      return `ADD ${rng.chance(0.2) ? `--checksum=${word(rng)} ` : ''}${rng.chance(0.3) ? 'https://example.com/x.tar ' : ''}${words(rng)} ${word(rng)}`;
    case 8:
      return `WORKDIR ${word(rng)}`;
    case 9:
      return `USER ${word(rng)}`;
    case 10:
      return `EXPOSE ${Array.from({ length: 1 + rng.int(3) }, () => rng.pick(['80', '80/tcp', '1-65535', '$A', '70000', '8080/udp', word(rng)])).join(' ')}`;
    case 11:
      return `VOLUME ${rng.chance(0.5) ? json(rng) : words(rng)}`;
    case 12:
      return `${rng.pick(['CMD', 'ENTRYPOINT'])} ${rng.chance(0.5) ? json(rng) : words(rng)}`;
    case 13:
      return `HEALTHCHECK ${rng.chance(0.2) ? 'NONE' : `--interval=${rng.chance(0.8) ? '30s' : rng.pick(['0s', '-1s', 'x', '1h'])} --retries=${rng.chance(0.8) ? '3' : rng.pick(['-1', 'x'])} CMD ${words(rng)}`}`;
    case 14:
      return `SHELL ${json(rng, 1)}`;
    case 15:
      return `STOPSIGNAL ${rng.pick(['SIGTERM', '9', 'RTMIN+3', word(rng)])}`;
    case 16:
      return `ONBUILD ${instruction(rng, [...stages]).split('\n')[0]}`;
    case 17:
      return `MAINTAINER ${words(rng)}`;
    case 18:
      return `# ${rng.pick(['escape=`', 'syntax=docker/dockerfile:1', 'check=skip=all', word(rng)])}`;
    default:
      return `${rng.string(1 + rng.int(8), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')} ${words(rng)}`;
  }
}

function randomDockerfile(rng: Rng): string {
  const stages: string[] = [];
  const lines = rng.chance(0.8) ? ['FROM busybox'] : [];
  for (let n = rng.size(60); n > 0; n--) lines.push(instruction(rng, stages));
  return `${lines.join('\n')}${rng.chance(0.8) ? '\n' : ''}`;
}

/** Base images whose configs are hostile too: random env, labels, ONBUILD triggers. */
function resolver(rng: Rng): ImageConfigResolver {
  return {
    async resolveImageConfig(ref: string, platform: Platform) {
      const config: ImageConfig = {
        architecture: platform.architecture,
        os: platform.os,
        rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] },
        config: {
          Env: rng.chance(0.5) ? [`PATH=/bin`, `${rng.pick(VARS)}=${word(rng)}`, word(rng)] : undefined,
          Labels: rng.chance(0.3) ? { [word(rng)]: word(rng) } : undefined,
          OnBuild: rng.chance(0.2) ? [instruction(rng, []).split('\n')[0]!, word(rng)] : undefined,
          WorkingDir: rng.chance(0.2) ? word(rng) : undefined,
          User: rng.chance(0.2) ? word(rng) : undefined,
        },
        history: [{ created_by: word(rng) }],
      };
      return { ref: `${ref}@sha256:${'b'.repeat(64)}`, config };
    },
  };
}

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

export const target: FuzzTarget = {
  name: 'dockerfile',
  caseTimeoutMs: 10_000,
  async run(rng) {
    if (rng.chance(0.15)) {
      // The lexer on its own, with every option.
      const lex = new ShellLex(rng.pick(['\\', '`']), {
        rawQuotes: rng.chance(0.5),
        rawEscapes: rng.chance(0.5),
        skipProcessQuotes: rng.chance(0.3),
        skipUnsetEnv: rng.chance(0.3),
      });
      const env = Object.fromEntries(VARS.filter(() => rng.chance(0.6)).map((v) => [v, words(rng)]));
      lex.processWordWithMatches(
        rng.chance(0.5) ? words(rng) : mutate(rng, Buffer.from(words(rng)), INTERESTING).toString('utf8'),
        env,
      );
      return;
    }
    const source = rng.chance(0.5)
      ? randomDockerfile(rng)
      : mutate(rng, rng.pick(corpus), INTERESTING).toString(rng.chance(0.9) ? 'utf8' : 'latin1');
    const buildArgs = Object.fromEntries(VARS.filter(() => rng.chance(0.2)).map((v) => [v, word(rng)]));
    await convertDockerfile(source, {
      buildArgs,
      platform: rng.chance(0.8) ? AMD64 : { os: 'linux', architecture: 'arm64', variant: 'v8' },
      buildPlatform: AMD64,
      resolver: resolver(rng),
      target: rng.chance(0.1) ? word(rng) : undefined,
      labels: rng.chance(0.1) ? { [word(rng)]: word(rng) } : undefined,
      multiPlatform: rng.chance(0.1),
      namedContexts: rng.chance(0.05)
        ? { [word(rng)]: rng.pick(['docker-image://busybox', word(rng)]) }
        : undefined,
    });
  },
};
