/**
 * Variable expansion of the instruction fields BuildKit expands before dispatch (its
 * SupportsSingleWordExpansion / ...Raw interfaces): ENV, LABEL, COPY/ADD, USER, WORKDIR, VOLUME,
 * STOPSIGNAL; heredoc bodies of COPY/ADD when their delimiter was unquoted. ARG, EXPOSE and RUN
 * mounts are expanded by their dispatchers; FROM by the stage setup.
 */
import type { Instruction, SourceContent } from '../instructions/types.ts';

export type Expander = (word: string) => string;

function expandOpt(e: Expander, v: string | undefined): string | undefined {
  return v === undefined ? undefined : e(v);
}

/** A copy of `ins` with its expandable fields expanded (`raw` expands heredoc bodies). */
export function expandInstruction(ins: Instruction, expand: Expander, raw: Expander): Instruction {
  switch (ins.kind) {
    case 'ENV':
      return { ...ins, env: ins.env.map((kv) => ({ ...kv, key: expand(kv.key), value: expand(kv.value) })) };
    case 'LABEL':
      return {
        ...ins,
        labels: ins.labels.map((kv) => ({ ...kv, key: expand(kv.key), value: expand(kv.value) })),
      };
    case 'USER':
      return { ...ins, user: expand(ins.user) };
    case 'WORKDIR':
      return { ...ins, path: expand(ins.path) };
    case 'VOLUME':
      return { ...ins, volumes: ins.volumes.map(expand) };
    case 'STOPSIGNAL':
      return { ...ins, signal: expand(ins.signal) };
    case 'COPY':
    case 'ADD': {
      const sd = ins.sourcesAndDest;
      const contents: SourceContent[] = sd.sourceContents.map((c) =>
        c.expand ? { ...c, data: raw(c.data) } : c,
      );
      const common = {
        sourcesAndDest: {
          destPath: expand(sd.destPath),
          sourcePaths: sd.sourcePaths.map(expand),
          sourceContents: contents,
        },
        chown: expandOpt(expand, ins.chown),
        chmod: expandOpt(expand, ins.chmod),
      };
      if (ins.kind === 'ADD') return { ...ins, ...common, checksum: expandOpt(expand, ins.checksum) };
      return { ...ins, ...common };
    }
    default:
      return ins;
  }
}
