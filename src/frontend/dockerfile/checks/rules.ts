/**
 * BuildKit's Dockerfile build-check rules (its linter ruleset): each rule's name, description,
 * documentation link and message, word for word, so kiln's findings read as `docker build
 * --check` prints them. Experimental rules run only when `# check=experimental=…` asks for them.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { goQuote } from '../shell/quote.ts';

/** One finding of a rule: what the converter reports as a warning. */
export interface Finding {
  rule: string;
  message: string;
  url?: string;
  location?: SourceLocation;
}

export interface Rule {
  readonly name: string;
  readonly description: string;
  readonly url?: string;
  readonly experimental?: boolean;
}

const DOCS = 'https://docs.docker.com/go/dockerfile/rule/';

/** `StageNameCasing` → `stage-name-casing` (the documentation page's name). */
function kebab(name: string): string {
  return name
    .replace(/JSON/g, 'Json')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();
}

function rule(
  name: string,
  description: string,
  opts: { experimental?: boolean; noUrl?: boolean } = {},
): Rule {
  return {
    name,
    description,
    ...(opts.noUrl ? {} : { url: `${DOCS}${kebab(name)}/` }),
    ...(opts.experimental ? { experimental: true } : {}),
  };
}

/** Go's %q, as the rule messages quote names, paths and platforms. */
const q = goQuote;

export const RULES = {
  StageNameCasing: rule('StageNameCasing', 'Stage names should be lowercase'),
  FromAsCasing: rule('FromAsCasing', "The 'as' keyword should match the case of the 'from' keyword"),
  NoEmptyContinuation: rule(
    'NoEmptyContinuation',
    'Empty continuation lines will become errors in a future release',
  ),
  ConsistentInstructionCasing: rule(
    'ConsistentInstructionCasing',
    'All commands within the Dockerfile should use the same casing (either upper or lower)',
  ),
  DuplicateStageName: rule('DuplicateStageName', 'Stage names should be unique'),
  ReservedStageName: rule('ReservedStageName', 'Reserved words should not be used as stage names'),
  JSONArgsRecommended: rule(
    'JSONArgsRecommended',
    'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
  ),
  MaintainerDeprecated: rule(
    'MaintainerDeprecated',
    'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
  ),
  UndefinedArgInFrom: rule('UndefinedArgInFrom', 'FROM command must use declared ARGs'),
  WorkdirRelativePath: rule(
    'WorkdirRelativePath',
    'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
  ),
  UndefinedVar: rule('UndefinedVar', 'Variables should be defined before their use'),
  MultipleInstructionsDisallowed: rule(
    'MultipleInstructionsDisallowed',
    'Multiple instructions of the same type should not be used in the same stage',
  ),
  LegacyKeyValueFormat: rule(
    'LegacyKeyValueFormat',
    'Legacy key/value format with whitespace separator should not be used',
  ),
  // BuildKit links no page for this one.
  InvalidBaseImagePlatform: rule(
    'InvalidBaseImagePlatform',
    'Base image platform does not match expected target platform',
    {
      noUrl: true,
    },
  ),
  RedundantTargetPlatform: rule(
    'RedundantTargetPlatform',
    'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
  ),
  SecretsUsedInArgOrEnv: rule(
    'SecretsUsedInArgOrEnv',
    'Sensitive data should not be used in the ARG or ENV commands',
  ),
  InvalidDefaultArgInFrom: rule(
    'InvalidDefaultArgInFrom',
    'Default value for global ARG results in an empty or invalid base image name',
  ),
  FromPlatformFlagConstDisallowed: rule(
    'FromPlatformFlagConstDisallowed',
    'FROM --platform flag should not use a constant value',
  ),
  CopyIgnoredFile: rule('CopyIgnoredFile', 'Attempting to Copy file that is excluded by .dockerignore', {
    experimental: true,
  }),
  InvalidDefinitionDescription: rule(
    'InvalidDefinitionDescription',
    'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    { experimental: true },
  ),
  ExposeProtoCasing: rule('ExposeProtoCasing', 'Protocol in EXPOSE instruction should be lowercase'),
  ExposeInvalidFormat: rule(
    'ExposeInvalidFormat',
    'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
  ),
} as const satisfies Record<string, Rule>;

export type RuleName = keyof typeof RULES;

/** Every rule, in BuildKit's documentation order. */
export const ALL_RULES: readonly Rule[] = Object.values(RULES);

/** The rule of this name, if it is one of BuildKit's. */
export function ruleByName(name: string): Rule | undefined {
  return Object.hasOwn(RULES, name) ? RULES[name as RuleName] : undefined;
}

/** A finding of `name` with its message, linked to the rule's documentation. */
export function finding(name: RuleName, message: string, location?: SourceLocation): Finding {
  const r = RULES[name];
  return { rule: r.name, message, ...(r.url ? { url: r.url } : {}), ...(location ? { location } : {}) };
}

/** The messages, as BuildKit's rules format them. */
export const MESSAGES = {
  StageNameCasing: (stage: string) => `Stage name '${stage}' should be lowercase`,
  FromAsCasing: (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`,
  NoEmptyContinuation: () => 'Empty continuation line',
  ConsistentInstructionCasing: (command: string, casing: string) =>
    `Command '${command}' should match the case of the command majority (${casing})`,
  DuplicateStageName: (stage: string) => `Duplicate stage name ${q(stage)}, stage names should be unique`,
  ReservedStageName: (stage: string) =>
    `Stage name should not use the same name as reserved stage ${q(stage)}`,
  JSONArgsRecommended: (instruction: string) =>
    `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  MaintainerDeprecated: () => 'Maintainer instruction is deprecated in favor of using label',
  WorkdirRelativePath: (workdir: string) =>
    `Relative workdir ${q(workdir)} can have unexpected results if the base image changes`,
  MultipleInstructionsDisallowed: (instruction: string) =>
    `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  LegacyKeyValueFormat: (cmd: string) =>
    `"${cmd} key=value" should be used instead of legacy "${cmd} key value" format`,
  InvalidBaseImagePlatform: (image: string, expected: string, actual: string) =>
    `Base image ${image} was pulled with platform ${q(actual)}, expected ${q(expected)} for current build`,
  RedundantTargetPlatform: (platformVar: string) =>
    `Setting platform to predefined ${platformVar} in FROM is redundant as this is the default behavior`,
  InvalidDefaultArgInFrom: (baseName: string) =>
    `Default value for ARG ${baseName} results in empty or invalid base image name`,
  FromPlatformFlagConstDisallowed: (platform: string) =>
    `FROM --platform flag should not use constant value ${q(platform)}`,
  CopyIgnoredFile: (cmd: string, file: string) =>
    `Attempting to ${cmd} file ${q(file)} that is excluded by .dockerignore`,
  InvalidDefinitionDescription: (instruction: string, name: string) =>
    `Comment for ${instruction} should follow the format: \`# ${name} <description>\``,
} as const;

/**
 * The instruction keyword as written (`cmd`, `Env`): BuildKit's messages name instructions the
 * way the Dockerfile spells them.
 */
export function writtenName(ins: { kind: string; original: string }): string {
  const word = ins.original.trimStart().split(/\s/, 1)[0] ?? '';
  return word.toUpperCase() === ins.kind ? word : ins.kind;
}
