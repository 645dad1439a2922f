/**
 * A helper process kiln keeps for as long as it runs and hands requests to, one line each; the
 * helper answers each with a line `<id> <number>` or `<id> <number> <text>`, in any order. The
 * fork server (a shell that runs short commands, forkserver.ts) and the mount server (perl making
 * mount(2) and umount2(2), mountserver.ts) are two of these.
 *
 * - It keeps nothing alive: its pipes are unreferenced while no request waits.
 * - It runs in a session of its own: a terminal's ^C reaches kiln, which still unmounts through
 *   it while it stops.
 * - It ends when kiln does, however kiln ends: its input closes. A helper that ends fails the
 *   requests it had; the module holding it starts another for the next (`ended`).
 */
import { type ChildProcess, spawn } from 'node:child_process';

interface Waiter {
  resolve: (answer: Answer) => void;
  reject: (err: Error) => void;
}

/** An answer's number, and the text after it ('' when there is none). */
export interface Answer {
  number: number;
  text: string;
}

export class LineServer {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, Waiter>();
  private next = 0;
  private partial = '';
  /** The helper's own complaints (on its stderr), for the error if it ends. */
  private complaints = '';
  ended: Error | undefined;
  private readonly what: string;
  private readonly onEnd: (self: LineServer) => void;

  /**
   * @param what names the helper in the error when it ends ("the fork server's shell").
   * @param onEnd runs once when it ends (the holder forgets it, removes what it made).
   */
  constructor(
    what: string,
    file: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv | undefined,
    onEnd: (self: LineServer) => void,
  ) {
    this.what = what;
    this.onEnd = onEnd;
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
    this.child.unref();
    this.child.stdin?.on('error', () => {}); // an ended helper is reported through 'exit'
    this.child.stdout?.setEncoding('latin1');
    this.child.stdout?.on('data', (text: string) => this.answers(text));
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => {
      this.complaints = (this.complaints + text).slice(-4096);
    });
    this.child.on('error', (err) => this.end(err));
    this.child.on('exit', (code, signal) =>
      this.end(new Error(`${this.what} ended (${signal ?? `status ${code}`}) ${this.complaints}`.trim())),
    );
    this.idle();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  nextId(): number {
    return this.next++;
  }

  /** Send `line` (which ends in a newline); resolves with the number answered for `id`. */
  async run(id: number, line: string): Promise<number> {
    return (await this.ask(id, line)).number;
  }

  /** Send `line`; resolves with the whole answer for `id`, its text included. */
  ask(id: number, line: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (this.ended) return reject(this.ended);
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) this.busy();
      this.write(line);
    });
  }

  /** Send a line that has no answer (the helper's own set-up). */
  write(line: string): void {
    this.child.stdin?.write(line);
  }

  private answers(text: string): void {
    this.partial += text;
    for (let nl = this.partial.indexOf('\n'); nl >= 0; nl = this.partial.indexOf('\n')) {
      const [id, number, ...text] = this.partial.slice(0, nl).split(' ');
      this.partial = this.partial.slice(nl + 1);
      const w = this.waiting.get(Number(id));
      if (!w) continue;
      this.waiting.delete(Number(id));
      if (this.waiting.size === 0) this.idle();
      w.resolve({ number: Number(number), text: text.join(' ') });
    }
  }

  private end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    this.onEnd(this);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.idle();
  }

  /** While a request waits, its answer must keep kiln alive; otherwise nothing of the helper does. */
  private busy(): void {
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr])
      (s as { ref?: () => void } | null)?.ref?.();
  }

  private idle(): void {
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr])
      (s as { unref?: () => void } | null)?.unref?.();
  }
}
