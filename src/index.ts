/**
 * kiln's public API, the package's one entry point (`import { build } from 'kiln'`): building,
 * the local image store, registry pull and push, progress events and errors. The CLI is a thin
 * client of these same functions; `plan()` turns build options into the graph per platform that
 * `build()` solves and `kiln debug graph` prints.
 */

export type { CacheSpec } from './cache/remote/spec.ts';
export { parseCacheSpec } from './cache/remote/spec.ts';
export type { ErrorCode, KilnErrorOptions, SourceLocation } from './errors/errors.ts';
export { hasCode, KilnError } from './errors/errors.ts';
export type { StepNote } from './explain/explainer.ts';
export type { Report, TimedStep } from './explain/report.ts';
export { buildReport, loadBuild, renderReport } from './explain/report.ts';
export type { BuildRecord, StepView } from './explain/session.ts';
export type { AddOptions, CopyOptions, LocalDir } from './frontend/builder/image.ts';
export { Image, image, local } from './frontend/builder/image.ts';
export type { ImageRecord, ImageSource, ImageStore } from './image/image.ts';
export { localImageSource } from './imagestore/imagestore.ts';
export type { ImageInspect, ImageSummary } from './imagestore/query.ts';
export { findImage, inspectImage, listImages, tagImage } from './imagestore/query.ts';
export type { BuildEnv, BuildResult, PlatformResult } from './pipeline/build.ts';
export { build } from './pipeline/build.ts';
export type { BuildInput } from './pipeline/input.ts';
export type {
  BuildOptions,
  BuildRequest,
  FrontendName,
  OutputSpec,
  OutputType,
  SecretSpec,
  SshSpec,
} from './pipeline/options.ts';
export type { Plan, PlanEnv } from './pipeline/plan.ts';
export { offlineResolver, plan } from './pipeline/plan.ts';
export type {
  ExplainEvent,
  LogEvent,
  ProgressEvent,
  ProgressSink,
  StatusEvent,
  VertexEvent,
  VertexStatus,
  WarningEvent,
} from './progress/events.ts';
export { RegistryClient } from './registry/client.ts';
export type { PullOptions, PullResult } from './registry/pull.ts';
export { pullImage } from './registry/pull.ts';
export type { PushOptions, PushResult } from './registry/push.ts';
export { pushImage } from './registry/push.ts';
export type { Store } from './store/store.ts';
export { openStore } from './store/store.ts';
