/**
 * What attestations a build is asked for, in buildx's words: `--sbom[=true|false|generator=IMAGE]`,
 * `--provenance[=true|false|mode=min|max|min|max]` and `--attest type=sbom|provenance,…`
 * (a later flag of a type replaces an earlier one; `disabled=true` or `false` turns it off).
 */
import { KilnError } from '../errors/errors.ts';

export interface AttestOptions {
  /** An SPDX SBOM of the final image (the built-in scanner; `generator` is recorded only). */
  sbom?: { generator?: string };
  /** SLSA provenance v0.2; `max` adds the build args and the build steps. */
  provenance?: { mode: 'min' | 'max'; builderId?: string };
}

const TRUE = new Set(['', 'true', '1']);
const FALSE = new Set(['false', '0']);

function fields(text: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new KilnError('INVALID_FLAG', `invalid ${flag} value "${text}": "${part}" is not KEY=VALUE`, {
        hint: 'e.g. --attest type=provenance,mode=max or --sbom=true',
      });
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** Apply one attestation's fields (`type` already taken out) to `into`. */
function apply(into: AttestOptions, type: string, f: Map<string, string>, flag: string): void {
  const disabled = f.get('disabled');
  f.delete('disabled');
  if (disabled !== undefined && !FALSE.has(disabled)) {
    if (type === 'sbom') delete into.sbom;
    else delete into.provenance;
    return;
  }
  if (type === 'sbom') {
    const generator = f.get('generator');
    f.delete('generator');
    into.sbom = generator ? { generator } : {};
  } else if (type === 'provenance') {
    const mode = f.get('mode') ?? 'min';
    if (mode !== 'min' && mode !== 'max')
      throw new KilnError('INVALID_FLAG', `invalid ${flag} mode "${mode}"`, {
        hint: 'use mode=min or mode=max',
      });
    const builderId = f.get('builder-id');
    f.delete('mode');
    f.delete('builder-id');
    into.provenance = builderId ? { mode, builderId } : { mode };
  } else {
    throw new KilnError('INVALID_FLAG', `unknown attestation type "${type}" in ${flag}`, {
      hint: 'use type=sbom or type=provenance',
    });
  }
  // BuildKit passes other keys to the generator; kiln has none to pass them to.
  for (const k of f.keys())
    throw new KilnError('INVALID_FLAG', `unknown ${flag} field "${k}" for type=${type}`, {
      hint:
        type === 'sbom'
          ? 'sbom takes generator= and disabled='
          : 'provenance takes mode=, builder-id= and disabled=',
    });
}

/** `--sbom`/`--provenance` shorthand: a boolean, a bare mode (`max`), or the fields. */
function shorthand(
  into: AttestOptions,
  type: 'sbom' | 'provenance',
  value: string | boolean | undefined,
): void {
  if (value === undefined || value === false) return;
  const flag = `--${type}`;
  const text = value === true ? '' : value;
  let f: Map<string, string>;
  if (TRUE.has(text)) f = new Map();
  else if (FALSE.has(text)) f = new Map([['disabled', 'true']]);
  else if (type === 'provenance' && (text === 'min' || text === 'max')) f = new Map([['mode', text]]);
  else f = fields(text, flag);
  apply(into, type, f, flag);
}

/** The attestations the flags ask for; undefined when none (the image is then as without them). */
export function parseAttestFlags(flags: {
  sbom?: string | boolean;
  provenance?: string | boolean;
  attest?: readonly string[];
}): AttestOptions | undefined {
  const out: AttestOptions = {};
  for (const a of flags.attest ?? []) {
    const f = fields(a, '--attest');
    const type = f.get('type');
    if (!type)
      throw new KilnError('INVALID_FLAG', `--attest ${a} has no type`, {
        hint: 'use --attest type=sbom or type=provenance,mode=max',
      });
    f.delete('type');
    apply(out, type, f, '--attest');
  }
  shorthand(out, 'sbom', flags.sbom);
  shorthand(out, 'provenance', flags.provenance);
  return out.sbom || out.provenance ? out : undefined;
}

/** Whether `text`, taken by `--sbom`/`--provenance` as their value, is one (else it is the context). */
export function isAttestValue(text: string): boolean {
  return TRUE.has(text) || FALSE.has(text) || text === 'min' || text === 'max' || text.includes('=');
}
