/**
 * BuildKit's SecretsUsedInArgOrEnv check (dockerfile2llb validations.go): an ARG or ENV key with a
 * secret-looking word as one of its `_`-separated parts — unless another part marks it public, a
 * file or a version — warns, since the value stays in the image's config or history where a
 * `RUN --mount=type=secret` would leave nothing.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { goQuote } from '../shell/quote.ts';
import type { ConvertWarning } from './types.ts';

const SECRET_WORDS = [
  'apikey',
  'auth',
  'credential',
  'credentials',
  'key',
  'password',
  'pword',
  'passwd',
  'secret',
  'token',
];
const ALLOW_WORDS = ['public', 'file', 'version'];

// Go's (?i) folds case the Unicode way (the Kelvin sign K matches k): so does JS with `u`.
const wordIn = (words: string[]) => new RegExp(`(?:_|^)(?:${words.join('|')})(?:_|$)`, 'iu');
let patterns: { secret: RegExp; allow: RegExp } | undefined;

/** Whether an ARG or ENV key looks like it names a secret. */
export function looksSecret(key: string): boolean {
  patterns ??= { secret: wordIn(SECRET_WORDS), allow: wordIn(ALLOW_WORDS) };
  return patterns.secret.test(key) && !patterns.allow.test(key);
}

/** Warn when `instruction` (ARG or ENV) sets a key that looks secret, at the instruction's lines. */
export function checkSecretKey(
  instruction: 'ARG' | 'ENV',
  key: string,
  location: SourceLocation,
  warnings: ConvertWarning[],
): void {
  if (!looksSecret(key)) return;
  warnings.push({
    rule: 'SecretsUsedInArgOrEnv',
    message: `Do not use ARG or ENV instructions for sensitive data (${instruction} ${goQuote(key)})`,
    url: 'https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/',
    location,
  });
}
