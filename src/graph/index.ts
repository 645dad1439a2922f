/** kiln's build graph: immutable, digest-identified ops and the definitions that carry them. */

export * from './canonical.ts';
export * from './construct.ts';
export * from './definition.ts';
export type * from './ops.ts';
export * from './vertex.ts';
