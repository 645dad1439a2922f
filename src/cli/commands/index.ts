/**
 * The list of CLI commands. Each command module exports `register(program)`; add one import and
 * one call here per module (edit this file in place, never rewrite it whole).
 */
import type { Command } from 'commander';
import { register as registerDebugDockerfile } from './debug-dockerfile.ts';

export function registerAll(program: Command): void {
  registerDebugDockerfile(program);
  void program;
}
