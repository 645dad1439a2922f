/** The native (copying) snapshotter against the conformance suite. */
import { NativeSnapshotter } from '../../../src/snapshot/native/native.ts';
import { snapshotterConformance } from './conformance.ts';

snapshotterConformance('native', (root) => NativeSnapshotter.open(root));
