/**
 * A step the build reports itself rather than through the solver: BuildKit's internal vertices
 * (`[internal] load build definition from Dockerfile`, `exporting to image`) and their tasks.
 * Times default to now; a step reported after the fact passes when it happened.
 */
import { sha256 } from '../digest/digest.ts';
import { errorText, type ProgressSink } from './events.ts';

export class ReportedStep {
  readonly id: string;
  readonly name: string;
  private readonly sink: ProgressSink;
  private ended = false;

  /** `key` tells apart steps of one build that share a name. */
  constructor(sink: ProgressSink, name: string, key = '') {
    this.sink = sink;
    this.name = name;
    this.id = sha256(`kiln internal step\0${name}\0${key}`);
  }

  start(at = Date.now()): this {
    this.vertex('started', at);
    return this;
  }

  /** A task of this step that is already over (`naming to docker.io/library/app:1 done`). */
  note(id: string, current = 0, at = Date.now()): void {
    this.sink({ type: 'status', id, vertex: this.id, name: '', current, started: at, done: true, at });
  }

  /** Run a task of this step, reported while it runs and when it is done. */
  async task<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    this.sink({ type: 'status', id, vertex: this.id, name: '', current: 0, started, at: started });
    const r = await fn();
    this.sink({
      type: 'status',
      id,
      vertex: this.id,
      name: '',
      current: 0,
      started,
      done: true,
      at: Date.now(),
    });
    return r;
  }

  done(at = Date.now()): void {
    this.vertex('done', at);
  }

  /** Report the step failed (once; later calls are ignored) and return the error. */
  fail(err: unknown, canceled = false): unknown {
    this.vertex(canceled ? 'canceled' : 'error', Date.now(), errorText(err));
    return err;
  }

  private vertex(status: 'started' | 'done' | 'error' | 'canceled', at: number, error?: string): void {
    if (this.ended) return;
    if (status !== 'started') this.ended = true;
    this.sink({ type: 'vertex', id: this.id, name: this.name, status, at, error });
  }
}
