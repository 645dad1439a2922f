/**
 * A git checkout into a directory kiln owns: `git clone` (shallow for a branch or tag, full for a
 * commit), submodules, `.git` kept only when asked, and the `#ref:subdir` resolved inside the
 * checkout (the repository is hostile: a `..` or a symlink on the way to /etc stays inside it).
 * Used by git sources in a graph and by a git URL as the build context.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../confine/resolve.ts';
import { KilnError } from '../errors/errors.ts';
import { execFileAsync } from '../sys/exec.ts';
import { lstatSync } from '../sys/fs.ts';

export interface GitCheckout {
  url: string;
  /** A branch, tag or full commit id; empty for the default branch. */
  ref: string;
  /** A directory inside the repository; empty for its top. */
  subdir: string;
  keepGitDir?: boolean;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** Clone `src` into `<dir>/repo`; returns the directory it names (the subdir when there is one). */
export async function cloneGit(src: GitCheckout, dir: string, signal?: AbortSignal): Promise<string> {
  const repo = join(dir, 'repo');
  try {
    const args = ['clone', '--quiet', '--recurse-submodules'];
    if (src.ref && !COMMIT.test(src.ref)) args.push('--depth', '1', '--branch', src.ref);
    const opts = { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, signal };
    await execFileAsync('git', [...args, '--', src.url, repo], opts);
    if (COMMIT.test(src.ref)) await execFileAsync('git', ['-C', repo, 'checkout', '--quiet', src.ref], opts);
    if (!src.keepGitDir) await rm(join(repo, '.git'), { recursive: true, force: true });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new KilnError(
      'GIT_SOURCE_FAILED',
      `cloning ${src.url}${src.ref ? `#${src.ref}` : ''} failed: ${stderr || (err as Error).message}`,
      { hint: 'check the repository URL and ref, and that git can reach it' },
    );
  }
  if (!src.subdir) return repo;
  const r = resolveInRoot(repo, src.subdir);
  if (!r.exists || !lstatSync(r.abs).isDirectory()) {
    throw new KilnError(
      'GIT_SOURCE_FAILED',
      `${src.url}: subdirectory "${src.subdir}" is not a directory of the repository`,
      { hint: 'check the path after the ":" in the URL fragment (#ref:subdir)' },
    );
  }
  return r.abs;
}
