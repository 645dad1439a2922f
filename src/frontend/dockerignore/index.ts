/** .dockerignore reading and matching (a port of moby/patternmatcher) and Go path matching. */
export { goBase, goClean, goDir, goTrimSpace } from './filepath.ts';
export { readDockerignore, type SelectedDockerignore, selectDockerignore } from './ignorefile.ts';
export { badPattern, goMatch, hasWildcards } from './match.ts';
export {
  EMPTY_MATCH_INFO,
  type MatchInfo,
  type MatchType,
  matchesPatterns,
  Pattern,
  PatternMatcher,
} from './patternmatcher.ts';
