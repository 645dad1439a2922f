/**
 * `--progress=rawjson`: BuildKit's client.SolveStatus, one JSON object per line, as
 * `docker buildx build --progress=rawjson` writes it (Go's encoding: byte fields base64, times
 * RFC 3339, empty fields left out), so tools written for BuildKit's raw progress read kiln's.
 */

import { isoTime } from '../sys/time.ts';
import type { ProgressEvent } from './events.ts';
import { warningShort } from './events.ts';

export interface Vertex {
  digest: string;
  inputs?: string[];
  name?: string;
  started?: string;
  completed?: string;
  cached?: boolean;
  error?: string;
}

export interface VertexStatus {
  id: string;
  vertex?: string;
  name?: string;
  total?: number;
  current: number;
  timestamp: string;
  started?: string;
  completed?: string;
}

export interface VertexLog {
  vertex?: string;
  /** 1 stdout, 2 stderr. */
  stream?: number;
  /** Base64. */
  data: string;
  timestamp: string;
}

export interface Position {
  line?: number;
  character?: number;
}

export interface VertexWarning {
  vertex?: string;
  level?: number;
  /** Base64. */
  short?: string;
  /** Base64, one per line of detail. */
  detail?: string[];
  url?: string;
  sourceInfo?: { filename?: string; data?: string; language?: string };
  range?: { start: Position; end: Position }[];
}

export interface SolveStatus {
  vertexes?: Vertex[];
  statuses?: VertexStatus[];
  logs?: VertexLog[];
  warnings?: VertexWarning[];
}

/** BuildKit's error text for a step stopped because the build was canceled. */
const CANCELED = 'context canceled';
/** BuildKit's level for Dockerfile lint warnings. */
const LINT_LEVEL = 1;

const time = (ms: number) => isoTime(ms);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * Turns kiln's events into SolveStatus updates. A vertex update carries the vertex's whole state
 * (as BuildKit sends it), so the encoder remembers each vertex's name, inputs and start.
 */
export class SolveStatusEncoder {
  private readonly vertices = new Map<string, { name: string; inputs?: string[]; started?: number }>();
  private readonly statusStarts = new Map<string, number>();
  /** Explanations that came before their vertex (a hit's): sent with it. */
  private readonly early = new Map<string, VertexStatus>();

  encode(e: ProgressEvent): SolveStatus | undefined {
    if (e.type === 'vertex') {
      let v = this.vertices.get(e.id);
      if (!v) {
        v = { name: e.name, inputs: e.inputs };
        this.vertices.set(e.id, v);
      }
      if (e.inputs?.length) v.inputs = e.inputs;
      const out: Vertex = { digest: e.id };
      if (v.inputs?.length) out.inputs = v.inputs;
      out.name = e.name;
      if (e.status === 'started') {
        v.started = e.at;
        out.started = time(e.at);
        return { vertexes: [out] };
      }
      out.started = time(v.started ?? e.at);
      out.completed = time(e.at);
      if (e.status === 'cached') out.cached = true;
      if (e.status === 'error') out.error = e.error || 'failed';
      if (e.status === 'canceled') out.error = CANCELED;
      const early = this.early.get(e.id);
      if (early) {
        this.early.delete(e.id);
        return { vertexes: [out], statuses: [early] };
      }
      return { vertexes: [out] };
    }
    if (e.type === 'log') {
      const log: VertexLog = {
        vertex: e.id,
        stream: e.stream === 'stdout' ? 1 : 2,
        data: b64(e.data),
        timestamp: time(e.at),
      };
      return { logs: [log] };
    }
    if (e.type === 'explain') {
      // BuildKit has no such field: a finished status of the step shows it in buildx's displays.
      const at = time(e.at);
      const s: VertexStatus = {
        id: e.text,
        vertex: e.id,
        current: 0,
        timestamp: at,
        started: at,
        completed: at,
      };
      if (this.vertices.has(e.id)) return { statuses: [s] };
      if (this.early.size < 10_000) this.early.set(e.id, s);
      return undefined;
    }
    if (e.type === 'status') {
      // BuildKit's statuses always belong to a vertex; kiln's byte counts outside a step stay out.
      if (!e.vertex) return undefined;
      const key = `${e.vertex}\0${e.id}`;
      const started = e.started ?? this.statusStarts.get(key) ?? e.at;
      this.statusStarts.set(key, started);
      // Go writes the fields in declaration order, leaving out empty optional ones.
      const s: VertexStatus = {
        id: e.id,
        vertex: e.vertex,
        ...(e.name ? { name: e.name } : {}),
        ...(e.total ? { total: e.total } : {}),
        current: e.current,
        timestamp: time(e.at),
        started: time(started),
        ...(e.done ? { completed: time(e.at) } : {}),
      };
      return { statuses: [s] };
    }
    const w: VertexWarning = {};
    if (e.vertex) w.vertex = e.vertex;
    w.level = LINT_LEVEL;
    w.short = b64(warningShort(e));
    if (e.url) w.url = e.url;
    if (e.source) {
      w.sourceInfo = { filename: e.source.filename, data: b64(e.source.data) };
      if (e.source.language) w.sourceInfo.language = e.source.language;
    }
    if (e.location) w.range = [{ start: { line: e.location.startLine }, end: { line: e.location.endLine } }];
    return { warnings: [w] };
  }
}
