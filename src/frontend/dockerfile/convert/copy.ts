/**
 * COPY and ADD: one file op whose copy actions read the build context, another stage, an image,
 * an http(s) download, a git checkout, or heredoc files made in a scratch file op. `--link`
 * without `--chmod` copies onto scratch and merges the result onto the stage (BuildKit's way,
 * so the copy does not depend on the layers below).
 */
import { isDigest } from '../../../digest/digest.ts';
import { KilnError } from '../../../errors/errors.ts';
import {
  type FileActionSpec,
  file,
  gitSource,
  httpSource,
  merge,
  type Vertex,
} from '../../../graph/index.ts';
import type { Platform } from '../../../oci/platform.ts';
import { copyIgnoredFile } from '../checks/dispatch.ts';
import type { AddCommand, CopyCommand } from '../instructions/types.ts';
import { chownOf, type DispatchContext } from './dispatch.ts';
import { cleanPath, destRelativeToWorkdir, normalizePath } from './paths.ts';
import { httpFilename, isHttpSource, parseGitRef } from './sources.ts';
import { commitHistory, prefixCommand, processCmdEnv, type StageState, uppercaseCmd } from './state.ts';

function copyError(message: string, hint: string): KilnError {
  return new KilnError('DOCKERFILE_INVALID_COPY', message, { hint });
}

const SYMBOLIC_MODE = /^([ugoa]*[-+=]([rwxXst]*|[ugo]))+(,([ugoa]*[-+=]([rwxXst]*|[ugo]))+)*$/;

/** Validate `--chmod`: octal up to 07777, or a symbolic mode (`u+x,g-w`). */
export function validateChmod(chmod: string): string {
  if (/^[0-9]+$/.test(chmod)) {
    if (!/^[0-7]+$/.test(chmod) || Number.parseInt(chmod, 8) > 0o7777) {
      throw copyError(
        `invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`,
        'write --chmod as an octal mode such as 755, or a symbolic one such as u+x',
      );
    }
    return chmod;
  }
  if (!SYMBOLIC_MODE.test(chmod)) {
    throw copyError(
      `invalid chmod parameter: '${chmod}'`,
      'write --chmod as an octal mode such as 755, or a symbolic one such as u+x',
    );
  }
  return chmod;
}

export interface CopySource {
  /** What local sources are read from: the context, a stage's or an image's root. */
  vertex: Vertex | null;
  fromContext: boolean;
}

export function dispatchCopy(
  d: StageState,
  c: CopyCommand | AddCommand,
  src: CopySource,
  ctx: DispatchContext,
  platform: Platform,
): void {
  const isAdd = c.kind === 'ADD';
  const sd = c.sourcesAndDest;
  const dest = destRelativeToWorkdir(d.cwd, sd.destPath);
  const chown = c.chown ? chownOf(c.chown) : undefined;
  const chmod = c.chmod ? validateChmod(c.chmod) : undefined;
  const parents = c.kind === 'COPY' && c.parents;
  let checksum = isAdd ? c.checksum : undefined;
  if (checksum) {
    if (sd.sourcePaths.length !== 1)
      throw copyError("checksum can't be specified for multiple sources", 'ADD one URL per --checksum');
    const only = sd.sourcePaths[0];
    if (!isHttpSource(only) && !parseGitRef(only)) {
      throw copyError('checksum requires HTTP(S) or Git sources', 'drop --checksum for local files');
    }
  }

  let message = isAdd ? 'ADD' : 'COPY';
  if (parents) message += ' --parents';
  if (c.chown) message += ` --chown=${c.chown}`;
  if (c.chmod) message += ` --chmod=${c.chmod}`;

  const text = uppercaseCmd(processCmdEnv(ctx.lex, c.original, d.env));
  const description = prefixCommand(d, text, ctx.multiPlatform, platform);
  const common = {
    chown,
    chmod,
    excludePatterns: [...c.excludePatterns],
    link: c.link,
    createdTime: ctx.epoch,
  };
  const actions: FileActionSpec[] = [];

  for (const s of sd.sourcePaths) {
    message += ` ${s}`;
    const git = parseGitRef(s);
    if (git) {
      if (!isAdd) throw copyError("source can't be a git ref for COPY", 'use ADD for git sources');
      const addKeep = (c as AddCommand).keepGitDir;
      if (addKeep !== undefined && git.keepGitDir !== undefined && addKeep !== git.keepGitDir) {
        throw copyError('inconsistent keep-git-dir configuration', 'set keep-git-dir in one place only');
      }
      if (checksum && git.checksum && checksum !== git.checksum) {
        throw copyError(`checksum mismatch "${checksum}" != "${git.checksum}"`, 'use one commit checksum');
      }
      checksum = git.checksum ?? checksum;
      const repo = gitSource(
        git.remote,
        { ref: checksum ?? git.ref, subdir: git.subdir, keepGitDir: git.keepGitDir ?? addKeep ?? false },
        { description, location: c.location },
      );
      actions.push({ action: 'copy', source: repo, srcPaths: ['/'], dest, createDestPath: true, ...common });
    } else if (isHttpSource(s)) {
      if (!isAdd)
        throw copyError("source can't be a URL for COPY", 'use ADD for URLs, or download in a RUN step');
      if (checksum && !isDigest(checksum)) {
        throw copyError(
          `invalid checksum "${checksum}"`,
          'give --checksum as sha256: followed by 64 hex digits',
        );
      }
      const filename = httpFilename(s);
      const dl = httpSource(s, { checksum, filename }, { description, location: c.location });
      const unpack = (c as AddCommand).unpack ?? false;
      actions.push({
        action: 'copy',
        source: dl,
        srcPaths: [filename],
        dest,
        createDestPath: true,
        unpack,
        ...common,
      });
    } else {
      if (src.fromContext) {
        const ignored = copyIgnoredFile(s, isAdd, ctx.dockerignore, c.location);
        if (ignored) ctx.warnings.push(ignored);
      }
      let source = s;
      let includes: string[] = [];
      if (parents) {
        const pivot = source.indexOf('/./');
        let pattern = source;
        if (pivot >= 0) {
          pattern = source.slice(pivot + 3);
          source = source.slice(0, pivot);
        } else {
          source = '/';
        }
        includes = [normalizePath('/', pattern, false).replace(/^\//, '')];
      }
      source = normalizePath('/', source, false);
      if (src.fromContext) d.ctxPaths.add(cleanPath(`/${s}`));
      const unpack = isAdd ? ((c as AddCommand).unpack ?? true) : false;
      actions.push({
        action: 'copy',
        source: src.vertex,
        // The worker's --parents copy takes the path as written (with any /./ pivot) and keeps
        // its directories itself; it has no include-pattern filter, so `source` would copy all.
        srcPaths: [parents ? s : source],
        includePatterns: includes,
        dest,
        followSymlinks: true,
        dirContentsOnly: true,
        allowWildcard: true,
        allowEmptyWildcard: true,
        createDestPath: true,
        parents,
        unpack,
        ...common,
      });
    }
  }

  for (const h of sd.sourceContents) {
    message += ` <<${h.path}`;
    const f = h.path;
    const doc = file(
      null,
      [{ action: 'mkfile', path: `/${f.replace(/^\/+/, '')}`, data: h.data, mode: 0o644 }],
      { platform },
      {
        description: '[internal] preparing inline document',
      },
    );
    actions.push({
      action: 'copy',
      source: doc,
      srcPaths: [`/${f.replace(/^\/+/, '')}`],
      dest,
      createDestPath: true,
      ...common,
    });
  }
  message += ` ${sd.destPath}`;

  const meta = { description, location: c.location, ignoreCache: d.ignoreCache || undefined };
  if (c.link && !chmod && d.root !== null) {
    const layer = file(null, actions, { cwd: d.cwd, platform }, meta);
    d.root = merge([d.root, layer], { ...meta, description: `${description.replace(text, `LINK ${text}`)}` });
  } else {
    d.root = file(d.root, actions, { cwd: d.cwd, platform }, meta);
  }
  commitHistory(d, message, true, true);
}
