/**
 * Every BuildKit build-check rule, each with a Dockerfile that breaks it (the exact message and
 * lines BuildKit reports) and one that does not, driven through the real parser and converter.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Dockerfile syntax, not a template
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AMD64, ARM64, convert, imageConfig, MemoryResolver } from '../convert/testing.ts';
import type { ConvertOptions } from '../convert/types.ts';
import { ALL_RULES, RULES } from './rules.ts';

interface Case {
  rule: string;
  bad: string;
  /** [message, first line, last line] of each finding of `rule` in `bad`. */
  found: [string, number, number][];
  good: string;
  opts?: Partial<ConvertOptions>;
}

const EXP = (rule: string) => `# check=experimental=${rule}\n\n`;

const CASES: Case[] = [
  {
    rule: 'StageNameCasing',
    bad: 'FROM alpine AS BuilderBase\n',
    found: [["Stage name 'BuilderBase' should be lowercase", 1, 1]],
    good: 'FROM alpine AS builder-base\n',
  },
  {
    rule: 'FromAsCasing',
    bad: 'FROM alpine as builder\n',
    found: [["'as' and 'FROM' keywords' casing do not match", 1, 1]],
    good: 'FROM alpine AS builder\n',
  },
  {
    rule: 'NoEmptyContinuation',
    bad: 'FROM alpine\nRUN echo a \\\n\n  && echo b\n',
    // BuildKit's parser reports it at the instruction's last line.
    found: [['Empty continuation line', 4, 4]],
    good: 'FROM alpine\nRUN echo a \\\n  && echo b\n',
  },
  {
    rule: 'ConsistentInstructionCasing',
    bad: 'FROM alpine\nRUN echo hi\ncopy a /a\n',
    found: [["Command 'copy' should match the case of the command majority (uppercase)", 3, 3]],
    good: 'from alpine\nrun echo hi\ncopy a /a\n',
  },
  {
    rule: 'DuplicateStageName',
    bad: 'FROM alpine AS builder\nFROM busybox AS builder\n',
    found: [['Duplicate stage name "builder", stage names should be unique', 2, 2]],
    good: 'FROM alpine AS builder\nFROM busybox AS runner\n',
  },
  {
    rule: 'ReservedStageName',
    bad: 'FROM alpine AS scratch\nFROM alpine AS context\n',
    found: [
      ['Stage name should not use the same name as reserved stage "scratch"', 1, 1],
      ['Stage name should not use the same name as reserved stage "context"', 2, 2],
    ],
    good: 'FROM alpine AS base\n',
  },
  {
    rule: 'JSONArgsRecommended',
    bad: 'FROM alpine\nENTRYPOINT my-app start\n',
    found: [
      [
        'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals',
        2,
        2,
      ],
    ],
    good: 'FROM alpine\nENTRYPOINT ["my-app", "start"]\nSHELL ["/bin/bash", "-c"]\nCMD run it\n',
  },
  {
    rule: 'MaintainerDeprecated',
    bad: 'FROM alpine\nMAINTAINER moby@example.com\n',
    found: [['Maintainer instruction is deprecated in favor of using label', 2, 2]],
    good: 'FROM alpine\nLABEL org.opencontainers.image.authors="moby@example.com"\n',
  },
  {
    rule: 'UndefinedArgInFrom',
    bad: 'FROM node:22${VARIANT} AS jsbuilder\n',
    found: [["FROM argument 'VARIANT' is not declared", 1, 1]],
    good: 'ARG VARIANT=-alpine3.20\nFROM node:22${VARIANT} AS jsbuilder\n',
  },
  {
    rule: 'WorkdirRelativePath',
    bad: 'FROM alpine\nWORKDIR app/\n',
    found: [['Relative workdir "app/" can have unexpected results if the base image changes', 2, 2]],
    good: 'FROM alpine AS base\nWORKDIR /app\nFROM base\nWORKDIR src\n',
  },
  {
    rule: 'UndefinedVar',
    bad: 'FROM alpine\nENV PATH=$PAHT:/app/bin\n',
    found: [["Usage of undefined variable '$PAHT' (did you mean $PATH?)", 2, 2]],
    good: 'FROM alpine\nARG foo\nENV PATH=$PATH:/app/bin\nRUN echo $foo\n',
  },
  {
    rule: 'MultipleInstructionsDisallowed',
    bad: 'FROM alpine\nENTRYPOINT ["echo", "a"]\nENTRYPOINT ["echo", "b"]\nHEALTHCHECK NONE\nHEALTHCHECK NONE\n',
    found: [
      [
        'Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used',
        2,
        2,
      ],
      [
        'Multiple HEALTHCHECK instructions should not be used in the same stage because only the last one will be used',
        4,
        4,
      ],
    ],
    good: 'FROM alpine AS a\nCMD ["a"]\nFROM a\nCMD ["b"]\n',
  },
  {
    rule: 'LegacyKeyValueFormat',
    bad: 'FROM alpine\nENV DEPS curl git make\nLABEL version 1\n',
    found: [
      ['"ENV key=value" should be used instead of legacy "ENV key value" format', 2, 2],
      ['"LABEL key=value" should be used instead of legacy "LABEL key value" format', 3, 3],
    ],
    good: 'FROM alpine\nENV DEPS="curl git make"\nLABEL version=1\n',
  },
  {
    rule: 'InvalidBaseImagePlatform',
    bad: 'FROM busybox\n',
    found: [
      [
        'Base image busybox was pulled with platform "linux/arm64", expected "linux/amd64" for current build',
        1,
        1,
      ],
    ],
    good: 'FROM alpine\n',
    opts: {
      resolver: new MemoryResolver({
        'docker.io/library/busybox:latest': imageConfig({ architecture: 'arm64' }),
      }),
    },
  },
  {
    rule: 'RedundantTargetPlatform',
    bad: 'FROM --platform=$TARGETPLATFORM alpine AS builder\n',
    found: [
      [
        'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
        1,
        1,
      ],
    ],
    good: 'FROM --platform=$BUILDPLATFORM alpine AS builder\n',
  },
  {
    rule: 'SecretsUsedInArgOrEnv',
    bad: 'FROM scratch\nARG AWS_SECRET_ACCESS_KEY\nENV GITHUB_TOKEN=x\n',
    found: [
      ['Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY")', 2, 2],
      ['Do not use ARG or ENV instructions for sensitive data (ENV "GITHUB_TOKEN")', 3, 3],
    ],
    good: 'FROM scratch\nARG PUBLIC_KEY\nENV TOKEN_FILE=/run/t\n',
  },
  {
    rule: 'InvalidDefaultArgInFrom',
    bad: 'ARG TAG\nFROM busybox:${TAG}\n',
    found: [['Default value for ARG busybox:${TAG} results in empty or invalid base image name', 2, 2]],
    good: 'ARG TAG=latest\nFROM busybox:${TAG}\n',
    opts: { buildArgs: { TAG: '1.36' } },
  },
  {
    rule: 'FromPlatformFlagConstDisallowed',
    bad: 'FROM --platform=linux/amd64 alpine AS builder\n',
    found: [['FROM --platform flag should not use constant value "linux/amd64"', 1, 1]],
    good: 'FROM --platform=linux/amd64 alpine AS builder_amd64\nFROM --platform=$BUILDPLATFORM alpine\n',
  },
  {
    rule: 'CopyIgnoredFile',
    bad: `${EXP('CopyIgnoredFile')}FROM scratch\nCOPY ./tmp/file.txt /file.txt\nADD tmp /t\n`,
    found: [
      ['Attempting to Copy file "tmp/file.txt" that is excluded by .dockerignore', 4, 4],
      ['Attempting to Add file "tmp" that is excluded by .dockerignore', 5, 5],
    ],
    good: `${EXP('CopyIgnoredFile')}FROM scratch\nCOPY ./src/file.txt /file.txt\nCOPY --from=busybox /tmp /tmp\n`,
    opts: { dockerignore: ['*/tmp', 'tmp'] },
  },
  {
    rule: 'InvalidDefinitionDescription',
    bad: `${EXP('InvalidDefinitionDescription')}# the base image\nFROM scratch AS base\n# the version\nARG VERSION=1\n`,
    found: [
      ['Comment for FROM should follow the format: `# base <description>`', 4, 4],
      ['Comment for ARG should follow the format: `# VERSION <description>`', 6, 6],
    ],
    good: `${EXP('InvalidDefinitionDescription')}# base the base image\nFROM scratch AS base\n# VERSION the version\nARG VERSION=1\n\n# a comment\n\nARG OTHER=1\n`,
  },
  {
    rule: 'ExposeProtoCasing',
    bad: 'FROM scratch\nEXPOSE 80/TCP\n',
    found: [["Defined protocol '80/TCP' in EXPOSE instruction should be lowercase", 2, 2]],
    good: 'FROM scratch\nEXPOSE 80/tcp 53/udp\n',
  },
  {
    rule: 'ExposeInvalidFormat',
    bad: 'FROM scratch\nEXPOSE 127.0.0.1:80:80\n',
    found: [
      [
        "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'",
        2,
        2,
      ],
    ],
    good: 'FROM scratch\nEXPOSE 80\n',
  },
];

describe('build checks: each rule', () => {
  for (const c of CASES) {
    it(`${c.rule}: reported with BuildKit's message and lines, and not where the Dockerfile is right`, async () => {
      const bad = await convert(c.bad, { file: 'Dockerfile', ...c.opts });
      const got = bad.warnings.filter((w) => w.rule === c.rule);
      assert.deepEqual(
        got.map((w) => [w.message, w.location?.startLine, w.location?.endLine]),
        c.found,
      );
      const url = RULES[c.rule as keyof typeof RULES].url;
      for (const w of got) assert.equal(w.url, url);
      const good = await convert(c.good, { file: 'Dockerfile', ...c.opts });
      assert.deepEqual(
        good.warnings.map((w) => `${w.rule}: ${w.message}`),
        [],
        'the corrected Dockerfile passes every check',
      );
    });
  }

  it('covers every rule BuildKit documents', () => {
    assert.deepEqual(CASES.map((c) => c.rule).sort(), ALL_RULES.map((r) => r.name).sort());
  });
});

describe('build checks: configuration', () => {
  it('experimental rules stay silent unless the check directive names them', async () => {
    const df = 'FROM scratch\nCOPY tmp /t\n';
    const r = await convert(df, { dockerignore: ['tmp'] });
    assert.deepEqual(r.warnings, []);
    const all = await convert(`# check=experimental=all;skip=all\n${df}`, { dockerignore: ['tmp'] });
    assert.deepEqual(
      all.warnings.map((w) => w.rule),
      ['CopyIgnoredFile'],
      'skip=all does not skip an experimental rule asked for',
    );
  });

  it('documentation links follow docs.docker.com/go/dockerfile/rule/<kebab-name>/', () => {
    assert.equal(
      RULES.JSONArgsRecommended.url,
      'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
    );
    assert.equal(
      RULES.FromPlatformFlagConstDisallowed.url,
      'https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/',
    );
    assert.equal(RULES.InvalidBaseImagePlatform.url, undefined);
  });

  it('a check without a target dispatches every stage; a build only the ones the target reaches', async () => {
    const df = 'FROM alpine AS unused\nWORKDIR rel\nFROM alpine\nCMD ["x"]\n';
    const build = await convert(df);
    assert.deepEqual(build.warnings, []);
    const check = await convert(df, { allStages: true });
    assert.deepEqual(
      check.warnings.map((w) => w.rule),
      ['WorkdirRelativePath'],
    );
  });

  it('messages name the instruction as written', async () => {
    const r = await convert('from alpine\ncmd run it\nenv A b\n', { platform: ARM64, buildPlatform: AMD64 });
    assert.deepEqual(
      r.warnings.map((w) => w.message),
      [
        'JSON arguments recommended for cmd to prevent unintended behavior related to OS signals',
        '"env key=value" should be used instead of legacy "env key value" format',
      ],
    );
  });
});
