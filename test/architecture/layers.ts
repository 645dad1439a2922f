/**
 * The layer of every folder under src/, declared once: a module imports only from its own layer
 * or the layers below it, and folders of one layer never import each other in a cycle.
 * ARCHITECTURE.md's table lists the same pairs (layers.test.ts checks both against the code).
 */

/** `test` marks the test rig: it may import anything, and only tests may import it. */
export type Layer = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 'test';

/** Folder (relative to src/, with a trailing slash) → layer; a file belongs to its deepest listed folder. */
export const LAYERS: Readonly<Record<string, Layer>> = {
  'errors/': 0,
  'sys/': 0,
  'digest/': 0,
  'confine/': 0,
  'oci/': 1,
  'reference/': 1,
  'progress/': 1,
  'userdb/': 1,
  'isolation/': 1,
  'frontend/dockerfile/parser/': 1,
  'frontend/dockerfile/shell/': 1,
  'frontend/dockerignore/': 1,
  'git/': 1,
  'content/': 2,
  'image/': 2,
  'snapshot/': 2,
  'executor/': 2,
  'graph/': 2,
  'archive/': 2,
  'frontend/dockerfile/instructions/': 2,
  'content/local/': 3,
  'imagestore/': 3,
  'layout/': 3,
  'tarball/': 3,
  'registry/': 3,
  'snapshot/overlay/': 3,
  'snapshot/native/': 3,
  'executor/runc/': 3,
  'executor/chroot/': 3,
  'context/': 3,
  'fileops/': 3,
  'attest/': 3,
  'frontend/dockerfile/checks/': 3,
  'frontend/dockerfile/convert/': 3,
  'frontend/builder/': 3,
  'frontend/graph/': 3,
  'frontend/yaml/': 3,
  'solver/': 4,
  'cache/': 4,
  'cache/remote/': 4,
  'store/': 4,
  'worker/': 5,
  'exporter/': 5,
  'explain/': 5,
  'pipeline/': 6,
  'working/': 6,
  'cli/': 7,
  'server/': 7,
  'testing/': 'test',
};

/** Files directly under src/: the public entry point sits on top. */
export const TOP_FILES: Readonly<Record<string, Layer>> = {
  'index.ts': 7,
};
