/**
 * Which instruction fields BuildKit variable-expands before dispatch, and a function applying an
 * expander to them. The converter binds the expander to the shell lexer and the current ENV/ARGs;
 * this module never expands anything by itself.
 */
import { parseError } from '../parser/parser.ts';
import { parseMounts, RunFlagError } from './runmount.ts';
import type { Instruction, SourceContent, WordExpander } from './types.ts';

export interface Expanders {
  /** Expand one word (quotes and escapes processed): ShellLex.processWord bound to the env. */
  word: WordExpander;
  /** Expand heredoc bodies (BuildKit uses a lexer that keeps quotes); defaults to `word`. */
  raw?: WordExpander;
  /** Expand-and-split (EXPOSE); defaults to `[word(w)]`. */
  words?: (word: string) => string[];
}

/**
 * Field paths expanded per instruction kind (documentation for the converter and for tests).
 * FROM's baseName/platform are expanded with the meta ARGs only; ARG values with the ARGs/ENV in
 * scope at that point; RUN command lines and CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD/MAINTAINER
 * are never expanded by the builder.
 */
export const EXPANDED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ENV: ['env[].key', 'env[].value'],
  LABEL: ['labels[].key', 'labels[].value'],
  COPY: [
    'sourcesAndDest.sourcePaths[]',
    'sourcesAndDest.destPath',
    'sourcesAndDest.sourceContents[].data (when expand)',
    'chown',
    'chmod',
    'excludePatterns[]',
  ],
  ADD: [
    'sourcesAndDest.sourcePaths[]',
    'sourcesAndDest.destPath',
    'sourcesAndDest.sourceContents[].data (when expand)',
    'chown',
    'chmod',
    'checksum',
    'excludePatterns[]',
  ],
  USER: ['user'],
  WORKDIR: ['path'],
  VOLUME: ['volumes[]'],
  STOPSIGNAL: ['signal'],
  EXPOSE: ['ports[] (split into words)'],
  RUN: ['mountSpecs[] (every value; mounts re-parsed)'],
  ARG: ['args[].value'],
  FROM: ['baseName', 'platform'],
};

const opt = (e: WordExpander, v: string | undefined) => (v === undefined ? undefined : e(v));

/**
 * A copy of `ins` with its expandable fields expanded (ARG values included; FROM is not an
 * Instruction). Throws the expander's errors, and KilnError DOCKERFILE_PARSE for a bad --mount.
 */
export function expandInstruction(ins: Instruction, ex: Expanders): Instruction {
  const w = ex.word;
  switch (ins.kind) {
    case 'ENV':
      return { ...ins, env: ins.env.map((kv) => ({ ...kv, key: w(kv.key), value: w(kv.value) })) };
    case 'LABEL':
      return { ...ins, labels: ins.labels.map((kv) => ({ ...kv, key: w(kv.key), value: w(kv.value) })) };
    case 'USER':
      return { ...ins, user: w(ins.user) };
    case 'WORKDIR':
      return { ...ins, path: w(ins.path) };
    case 'VOLUME':
      return { ...ins, volumes: ins.volumes.map(w) };
    case 'STOPSIGNAL':
      return { ...ins, signal: w(ins.signal) };
    case 'EXPOSE':
      return { ...ins, ports: ins.ports.flatMap((p) => (ex.words ? ex.words(p) : [w(p)])) };
    case 'ARG':
      return { ...ins, args: ins.args.map((a) => (a.value === undefined ? a : { ...a, value: w(a.value) })) };
    case 'RUN':
      try {
        return { ...ins, mounts: parseMounts(ins.mountSpecs, w) };
      } catch (err) {
        if (!(err instanceof RunFlagError)) throw err;
        const { file, startLine, endLine } = ins.location;
        throw parseError(file, startLine, endLine, err.message, 'fix the --mount options of this RUN');
      }
    case 'COPY':
    case 'ADD': {
      const raw = ex.raw ?? w;
      const sd = ins.sourcesAndDest;
      const sourceContents: SourceContent[] = sd.sourceContents.map((c) =>
        c.expand ? { ...c, data: raw(c.data) } : c,
      );
      const common = {
        sourcesAndDest: { destPath: w(sd.destPath), sourcePaths: sd.sourcePaths.map(w), sourceContents },
        chown: opt(w, ins.chown),
        chmod: opt(w, ins.chmod),
        excludePatterns: ins.excludePatterns.map(w),
      };
      if (ins.kind === 'ADD') return { ...ins, ...common, checksum: opt(w, ins.checksum) };
      return { ...ins, ...common };
    }
    default:
      return ins;
  }
}
