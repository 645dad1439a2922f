/**
 * The list of CLI commands. Each command module exports `register(program)`; add one import and
 * one call here per module (edit this file in place, never rewrite it whole).
 */
import type { Command } from 'commander';
import { register as registerBuild } from './build.ts';
import { register as registerDu } from './du.ts';
import { register as registerFsck } from './fsck.ts';
import { register as registerImage } from './image.ts';
import { register as registerImages } from './images.ts';
import { register as registerPrune } from './prune.ts';
import { register as registerRmi } from './rmi.ts';
import { register as registerTag } from './tag.ts';
import { register as registerDebugDockerfile } from './debug-dockerfile.ts';
import { register as registerDebugGraph } from './debug-graph.ts';
import { register as registerLogin } from './login.ts';
import { register as registerLogout } from './logout.ts';
import { register as registerManifest } from './manifest.ts';
import { register as registerPull } from './pull.ts';
import { register as registerPush } from './push.ts';

export function registerAll(program: Command): void {
  registerBuild(program);
  registerImages(program);
  registerImage(program);
  registerTag(program);
  registerRmi(program);
  registerPrune(program);
  registerDu(program);
  registerFsck(program);
  registerDebugDockerfile(program);
  registerDebugGraph(program);
  registerPull(program);
  registerPush(program);
  registerLogin(program);
  registerLogout(program);
  registerManifest(program);
  void program;
}
