/**
 * RUN: an exec op on the stage's root with the stage's execution context (env including ARG
 * values, cwd, user), its `--mount`s, network and security mode. Heredocs become a script file
 * mounted at /dev/pipes (with a shebang) or the shell's command string, as in BuildKit.
 */
import { posix } from 'node:path';
import { KilnError } from '../../../errors/errors.ts';
import { exec, file, type MountSpec, type Vertex } from '../../../graph/index.ts';
import type { Platform } from '../../../oci/platform.ts';
import type { Mount, RunCommand } from '../instructions/types.ts';
import type { DispatchContext } from './dispatch.ts';
import { chargeRunEnv, withShell } from './dispatch.ts';
import { cleanPath } from './paths.ts';
import {
  commitHistory,
  prefixCommand,
  processCmdEnv,
  runCommandString,
  runDescriptionLex,
  type StageState,
  uppercaseCmd,
} from './state.ts';

/** `<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"`, `3<<EOF` as a whole word. */
const HEREDOC_ONLY = /^\s*\d*<<-?(['"]?)([^'"\s]+)\1\s*$/;

function chomp(data: string): string {
  return data.replace(/^\t+/gm, '');
}

function summarizeHeredoc(data: string): string {
  const lines = data.trim().replaceAll('\r\n', '\n').split('\n');
  return lines.length > 1 ? `${lines[0]}...` : lines[0];
}

/** Resolves `from=` of a mount to the vertex it reads (a stage's or image's root, or the context). */
export type MountSourceResolver = (from: string | undefined) => Vertex | null;

function mountTarget(d: StageState, target: string): string {
  const t = target.startsWith('/') ? cleanPath(target) : posix.join('/', d.cwd, target);
  if (t === '/') {
    throw new KilnError('DOCKERFILE_INVALID_MOUNT', `invalid mount target "${target}"`, {
      hint: 'mount over a directory other than /',
    });
  }
  return t;
}

function mountSpec(d: StageState, m: Mount, from: MountSourceResolver): MountSpec {
  switch (m.type) {
    case 'bind': {
      const source = m.source === undefined ? '/' : cleanPath(`/${m.source}`);
      if (m.from === undefined) d.ctxPaths.add(source);
      return {
        type: 'bind',
        target: mountTarget(d, m.target),
        source: from(m.from),
        selector: source,
        readonly: m.readOnly,
      };
    }
    case 'cache':
      return {
        type: 'cache',
        target: mountTarget(d, m.target),
        id: m.id,
        sharing: m.sharing,
        source: m.from === undefined ? null : from(m.from),
        selector: m.source === undefined ? '/' : cleanPath(`/${m.source}`),
        readonly: m.readOnly,
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: mountTarget(d, m.target), size: m.size };
    case 'secret':
      return {
        type: 'secret',
        target: m.target === '' ? '' : mountTarget(d, m.target),
        id: m.id,
        env: m.env,
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        required: m.required,
      };
    case 'ssh':
      return {
        type: 'ssh',
        target: mountTarget(d, m.target),
        id: m.id,
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        required: m.required,
      };
  }
}

const PROXY_ARGS = ['http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy'];

/** Proxy build args (any case), for the exec's metadata; undefined when none were given. */
export function proxyEnv(buildArgs: Readonly<Record<string, string>>): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const k of Object.keys(buildArgs).sort())
    if (PROXY_ARGS.includes(k.toLowerCase())) out[k] = buildArgs[k];
  return Object.keys(out).length > 0 ? out : undefined;
}

export function dispatchRun(
  d: StageState,
  c: RunCommand,
  ctx: DispatchContext,
  platform: Platform,
  from: MountSourceResolver,
): void {
  chargeRunEnv(d, ctx);
  let args = [...c.cmdLine];
  let summary = '';
  const mounts: MountSpec[] = [];
  if (c.files.length > 0) {
    if (args.length !== 1 || !c.prependShell) {
      throw new KilnError(
        'DOCKERFILE_INVALID_RUN',
        `parsing produced an invalid run command: [${args.join(' ')}]`,
        {
          hint: 'heredocs work with the shell form of RUN only',
        },
      );
    }
    if (HEREDOC_ONLY.test(args[0])) {
      const f = c.files[0];
      const data = f.chomp ? chomp(f.data) : f.data;
      if (d.image.os !== 'windows' && data.startsWith('#!')) {
        // A script with a shebang runs as a file mounted read-only at /dev/pipes/<name>.
        const script = file(
          null,
          [{ action: 'mkfile', path: `/${f.name}`, data, mode: 0o755 }],
          { platform },
          {
            description: '[internal] preparing inline document',
          },
        );
        mounts.push({ type: 'bind', target: '/dev/pipes', source: script, selector: '/', readonly: true });
        args = [posix.join('/dev/pipes/', f.name)];
      } else {
        args = [data];
      }
      summary = ` (${summarizeHeredoc(f.data)})`;
    } else {
      // More than a bare heredoc: hand the shell the line with the bodies reattached.
      let b = args[0];
      for (const f of c.files) b += `\n${f.data}${f.name}`;
      args = [b];
    }
  }
  if (c.prependShell) args = withShell(d, args);

  // `c.mounts` were re-parsed from the flags after expansion with the stage's environment.
  for (const m of c.mounts) mounts.push(mountSpec(d, m, from));
  // `--shm-size` is a tmpfs mount in the op, as dockerfile2llb makes it, unless the RUN mounts
  // /dev/shm itself.
  const run = ctx.run ?? {};
  if (run.shmSize && !mounts.some((m) => m.target === '/dev/shm'))
    mounts.push({ type: 'tmpfs', target: '/dev/shm', size: run.shmSize });

  const text = uppercaseCmd(processCmdEnv(runDescriptionLex(ctx.escapeToken), c.original, d.env)) + summary;
  const description = prefixCommand(d, text, ctx.multiPlatform, platform);
  d.root = exec(
    d.root,
    {
      args,
      env: d.env,
      cwd: d.cwd,
      user: d.user,
      mounts,
      network: c.network ?? 'default',
      security: c.security ?? 'sandbox',
      platform,
      extraHosts: run.extraHosts,
      ulimits: run.ulimits,
      cgroupParent: run.cgroupParent,
    },
    {
      description,
      location: c.location,
      ignoreCache: d.ignoreCache || undefined,
      proxyEnv: proxyEnv(ctx.buildArgs),
    },
  );
  commitHistory(d, `RUN ${runCommandString(args, d)}`, true, true);
}
