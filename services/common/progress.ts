/**
 * Progress for long work: a cli-progress bar with rate and ETA when stderr is a terminal, one structured
 * JSON line per update (at most every `logEveryMs`) otherwise, so CI logs and `kubectl logs` stay
 * readable. Every long-running CLI command (generate, train, eval, pipeline) reports through this.
 */
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  /** What is counted ("questions", "steps"). */
  unit: string;
  total: number;
  /** Extra fields shown after the bar, e.g. { entropy: '2.91 bits' }. */
  fields?: Record<string, string>;
  /** Force bar (true) or lines (false); default: bar when stderr is a TTY. */
  tty?: boolean;
  /** Minimum time between log lines in non-TTY mode. */
  logEveryMs?: number;
  stream?: NodeJS.WriteStream;
}

export interface Progress {
  update(done: number, fields?: Record<string, string>): void;
  stop(): void;
}

/**
 * Bars running at the same time (stages of a pipeline side by side) share one cli-progress MultiBar per
 * stream: two SingleBars would overwrite each other's line. A finished bar stays on screen until the
 * last one of its group finishes.
 */
const groups = new Map<NodeJS.WriteStream, { multi: cliProgress.MultiBar; active: number }>();

export function createProgress(label: string, opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? !!stream.isTTY;
  const fieldNames = Object.keys(opts.fields ?? {});
  if (tty) {
    const extra = fieldNames.map((f) => `${f} {${f}}`).join(' | ');
    let group = groups.get(stream);
    if (!group) {
      group = { multi: new cliProgress.MultiBar({ stream, hideCursor: true, etaBuffer: 20, clearOnComplete: false }, cliProgress.Presets.shades_classic), active: 0 };
      groups.set(stream, group);
    }
    const g = group;
    g.active += 1;
    const started = Date.now();
    const rate = (done: number) => (done / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(2);
    const bar = g.multi.create(opts.total, 0, { ...opts.fields, rate: '0.00' }, {
      format: `${label} [{bar}] {value}/{total} ${opts.unit} | {rate}/s | ETA {eta_formatted}${extra ? ` | ${extra}` : ''}`,
    });
    let stopped = false;
    return {
      update: (done, fields) => bar.update(done, { ...fields, rate: rate(done) }),
      stop: () => {
        if (stopped) return;
        stopped = true;
        bar.stop();
        g.active -= 1;
        if (g.active === 0) {
          g.multi.stop();
          groups.delete(stream);
        }
      },
    };
  }
  const every = opts.logEveryMs ?? 5_000;
  const started = Date.now();
  let last = 0;
  let lastDone = -1;
  const line = (done: number, fields: Record<string, string> = {}) => {
    const elapsedS = (Date.now() - started) / 1000;
    const rate = done / Math.max(1e-3, elapsedS);
    const etaS = rate > 0 ? Math.round((opts.total - done) / rate) : null;
    stream.write(`${JSON.stringify({ progress: label, done, total: opts.total, unit: opts.unit, rate_per_s: Number(rate.toFixed(3)), eta_s: etaS, ...fields })}\n`);
    last = Date.now();
    lastDone = done;
  };
  let current = 0;
  let currentFields: Record<string, string> = {};
  return {
    update(done, fields) {
      current = done;
      currentFields = fields ?? currentFields;
      if (done >= opts.total || Date.now() - last >= every) line(done, fields);
    },
    stop() { if (lastDone !== current) line(current, currentFields); },
  };
}
