/**
 * Progress events: what a build reports while it runs. The solver and workers emit them; the CLI
 * renders them (tty, plain or raw JSON); library users subscribe to them.
 */
import type { SourceLocation } from '../errors/errors.ts';

export type VertexStatus = 'started' | 'cached' | 'done' | 'error' | 'canceled';

export interface VertexEvent {
  type: 'vertex';
  /** Vertex digest: stable across runs for the same work. */
  id: string;
  name: string;
  status: VertexStatus;
  /** Milliseconds since the epoch. */
  at: number;
  error?: string;
  location?: SourceLocation;
}

export interface LogEvent {
  type: 'log';
  id: string;
  stream: 'stdout' | 'stderr';
  data: string;
  at: number;
}

/** Byte-counting sub-progress of a vertex (pulls, pushes, layer export). */
export interface StatusEvent {
  type: 'status';
  id: string;
  name: string;
  current: number;
  total?: number;
  done?: boolean;
  at: number;
}

export interface WarningEvent {
  type: 'warning';
  message: string;
  location?: SourceLocation;
  at: number;
}

export type ProgressEvent = VertexEvent | LogEvent | StatusEvent | WarningEvent;

export type ProgressSink = (event: ProgressEvent) => void;

/** A sink that drops everything, for callers that do not care. */
export const discardProgress: ProgressSink = () => {};
