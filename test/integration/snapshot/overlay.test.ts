/**
 * The overlay snapshotter: the conformance suite, under a long root path so that a 60-layer
 * chain's lowerdir option exceeds a page and must be compacted.
 */
import { OverlaySnapshotter } from '../../../src/snapshot/overlay/overlay.ts';
import { snapshotterConformance } from './conformance.ts';

snapshotterConformance('overlay', (root) => OverlaySnapshotter.open(root), {
  rootSuffix: `deep/${'d'.repeat(60)}/root`,
});
