/**
 * How long a build spends inside RUN processes, measured the same way for every builder: every
 * 100 ms, walk the process tree under the builder (the bench's own children for kiln and buildah;
 * dockerd for BuildKit, whose RUN containers are runc children of dockerd, leaving out the
 * containerd subtree that runs ordinary containers) and look for a process in a mount namespace
 * other than the host's: a RUN step's container (runc's, or buildah's chroot). Time with at least
 * one such process is RUN time; the rest of the wall time is the builder's own work (resolving,
 * snapshots, copies, layer diffs, compression, commits, container setup and teardown).
 *
 * Time with a RUN process of a step that fetches (its command line matches `fetching`: apt-get,
 * npm ci) is reported as well: the upper bound on the time spent waiting on the network, since it
 * also holds those steps' unpacking and installing. A counting HTTP(S) proxy handed to RUN as
 * http_proxy/https_proxy was tried first and dropped: npm behind a proxy opens a CONNECT tunnel per
 * request (no keep-alive), and this machine's egress stalls ~5 s once ~28 new connections are
 * open, so `npm ci` took 85 s through it against 18 s direct: it measured the proxy, not the build.
 *
 * It also samples kiln's own peak RSS: the VmHWM of the process GNU time started (kiln's node),
 * not the RUN processes below it, which GNU time's %M would include.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { procStatusMiB } from '../measure.ts';

const INTERVAL_MS = 100;

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const ppid = Number(s.slice(close + 2).split(' ')[1]);
      out.push({ pid: Number(name), ppid, comm });
    } catch {
      // Gone between readdir and read.
    }
  }
  return out;
}

function mntNs(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export interface RunWatchResult {
  /** Seconds during which a RUN process existed. */
  runSeconds: number;
  /** Seconds during which a RUN process of a fetching step existed. */
  fetchSeconds: number;
  /** Peak VmHWM of the process under GNU time (kiln's node), MiB; 0 when not asked. */
  peakRssMiB: number;
  samples: number;
}

export class RunWatch {
  private readonly hostNs = mntNs('self');
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private wasActive = false;
  private wasFetching = false;
  private runMs = 0;
  private fetchMs = 0;
  private peak = 0;
  private samples = 0;

  private readonly root: number;
  private readonly rssUnderTime: boolean;
  private readonly fetching: RegExp;

  /**
   * `root`: the pid whose descendants are the builder; `rssUnderTime`: sample kiln's RSS;
   * `fetching`: the command lines of the RUN steps that fetch.
   */
  constructor(root: number, rssUnderTime: boolean, fetching: RegExp) {
    this.root = root;
    this.rssUnderTime = rssUnderTime;
    this.fetching = fetching;
  }

  start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => this.sample(), INTERVAL_MS);
  }

  stop(): RunWatchResult {
    clearInterval(this.timer);
    this.sample();
    return {
      runSeconds: this.runMs / 1000,
      fetchSeconds: this.fetchMs / 1000,
      peakRssMiB: this.peak,
      samples: this.samples,
    };
  }

  private sample(): void {
    const now = performance.now();
    // Credit the interval to RUN when a RUN process was seen at either end of it, half when at one.
    const all = procs();
    const byPid = new Map(all.map((p) => [p.pid, p]));
    const children = new Map<number, Proc[]>();
    for (const p of all) {
      const list = children.get(p.ppid);
      if (list) list.push(p);
      else children.set(p.ppid, [p]);
    }
    let active = false;
    let fetching = false;
    const stack = [...(children.get(this.root) ?? [])];
    while (stack.length) {
      const p = stack.pop() as Proc;
      // containerd runs ordinary containers; slirp4netns (kiln's RUN network) sandboxes itself.
      if (p.comm.startsWith('containerd') || p.comm === 'slirp4netns') continue;
      // kiln's node (its main thread names the process MainThread) is what GNU time started.
      if (this.rssUnderTime && byPid.get(p.ppid)?.comm === 'time')
        this.peak = Math.max(this.peak, procStatusMiB(p.pid, 'VmHWM'));
      const ns = mntNs(p.pid);
      if (ns !== undefined && ns !== this.hostNs) {
        active = true;
        if (!fetching) fetching = this.fetching.test(cmdline(p.pid));
      }
      stack.push(...(children.get(p.pid) ?? []));
    }
    const dt = now - this.last;
    this.runMs += dt * ((Number(active) + Number(this.wasActive)) / 2);
    this.fetchMs += dt * ((Number(fetching) + Number(this.wasFetching)) / 2);
    this.wasActive = active;
    this.wasFetching = fetching;
    this.last = now;
    this.samples++;
  }
}
