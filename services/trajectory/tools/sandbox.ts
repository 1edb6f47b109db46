/**
 * A sandbox for untrusted Python (the `python` tool and sympy in `equation_solver`): bubblewrap
 * (https://github.com/containers/bubblewrap) plus resource limits (prlimit, util-linux).
 *
 * What stops what:
 *  - network:            `--unshare-all` gives a new network namespace with only a down loopback.
 *  - writing outside tmp: only /usr (and the few /etc files Python and BLAS read) are bound, read-only;
 *                         /tmp is a private tmpfs capped with `--size`; RLIMIT_FSIZE caps any one file.
 *  - fork bomb:          RLIMIT_NPROC. It counts processes per *real uid* and does not apply to root, so
 *                         when the service runs as root, `setpriv` first switches to a fresh unprivileged
 *                         uid per run (its own process count); bwrap then maps it to "nobody" (65534).
 *  - infinite loop:      RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the hard one) and a wall clock
 *                         timer that kills bwrap; `--die-with-parent` + the pid namespace take every child.
 *  - memory bomb:        RLIMIT_AS (Python raises MemoryError).
 *  - output flood:       stdout+stderr are read up to a byte cap, then the run is killed.
 * Checked on this container (Debian 12, bwrap 0.8.0, running as root, user namespaces allowed): every
 * flag below works, including `--unshare-user`, `--proc`, `--size` and `--disable-userns`. bwrap older
 * than 0.8 lacks `--disable-userns` (nested user namespaces) and older than 0.7 lacks `--size`: the
 * probe retries without those two and says so. Where user namespaces are off (some Kubernetes
 * nodes), bwrap cannot start and the tools report "sandbox unavailable": code never runs unsandboxed.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { randomInt } from 'node:crypto';

export interface SandboxLimits {
  /** Wall-clock limit, milliseconds. */
  wallMs: number;
  /** CPU time limit, seconds (SIGXCPU; SIGKILL one second later). */
  cpuSeconds: number;
  /** Address-space limit per process, MiB. */
  memoryMb: number;
  /** Processes and threads of the run. */
  maxProcesses: number;
  /** stdout + stderr, bytes. */
  maxOutputBytes: number;
  /** Size of the private /tmp, MiB, and the largest file, MiB. */
  tmpMb: number;
  fileMb: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  wallMs: 15_000,
  cpuSeconds: 10,
  memoryMb: 1_024, // numpy + scipy + sympy import peaks near 160 MiB of address space
  maxProcesses: 32,
  maxOutputBytes: 64 * 1024,
  tmpMb: 64,
  fileMb: 16,
};

/** Why a run was stopped, when it was. */
export type SandboxViolation = 'wall_time' | 'cpu_time' | 'memory' | 'output' | 'processes' | 'cancelled';

export interface SandboxResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  violation?: SandboxViolation;
  durationMs: number;
}

/** uids handed to runs when the service is root: far above any real user's. */
const RUN_UID_MIN = 200_000;
const RUN_UID_MAX = 299_999;
const NOBODY = '65534';
const SIGXCPU_EXIT = 128 + 24;

/** Flags that only newer bwrap knows; dropped (and reported) when the installed one refuses them. */
export interface SandboxFeatures { disableUserns: boolean; tmpSize: boolean }

/** Read-only binds: the system (usr-merged or not) and the /etc files Python and BLAS need. */
function systemBinds(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) args.push('--symlink', readlinkSync(top), top);
    else args.push('--ro-bind', top, top);
  }
  const etc = ['alternatives', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime',
    ...readdirSync('/etc').filter((n) => n.startsWith('python3'))];
  for (const name of etc) args.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
  return args;
}

/** The full command line: prlimit → (setpriv when root) → bwrap → program. */
export function sandboxArgv(program: readonly string[], limits: SandboxLimits, features: SandboxFeatures, asRoot: boolean): string[] {
  const mib = 1024 * 1024;
  const prlimit = ['prlimit',
    `--as=${limits.memoryMb * mib}`,
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`,
    `--nproc=${limits.maxProcesses}`,
    `--fsize=${limits.fileMb * mib}`,
    '--nofile=128',
    '--core=0',
    '--'];
  const uid = String(randomInt(RUN_UID_MIN, RUN_UID_MAX));
  const setpriv = asRoot ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] : [];
  const bwrap = ['bwrap',
    ...systemBinds(),
    '--dev', '/dev',
    '--proc', '/proc',
    ...(features.tmpSize ? ['--size', String(limits.tmpMb * mib)] : []), '--tmpfs', '/tmp',
    '--chdir', '/tmp',
    '--unshare-all', '--unshare-user', '--uid', NOBODY, '--gid', NOBODY,
    ...(features.disableUserns ? ['--disable-userns'] : []),
    '--cap-drop', 'ALL',
    '--die-with-parent', '--new-session',
    '--clearenv',
    '--setenv', 'PATH', '/usr/bin:/bin',
    '--setenv', 'HOME', '/tmp',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'OPENBLAS_NUM_THREADS', '1', // BLAS threads would count against maxProcesses
    '--setenv', 'OMP_NUM_THREADS', '1',
    '--setenv', 'MPLBACKEND', 'Agg',
    '--'];
  return [...prlimit, ...setpriv, ...bwrap, ...program];
}

export interface RunOptions {
  stdin?: string;
  limits: SandboxLimits;
  features: SandboxFeatures;
  signal?: AbortSignal;
}

/** Runs `program` inside the sandbox; never throws for what the program does, only reports it. */
export function runSandboxed(program: readonly string[], opts: RunOptions): Promise<SandboxResult> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, ...args] = sandboxArgv(program, opts.limits, opts.features, asRoot);
  const started = Date.now();
  return new Promise<SandboxResult>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let violation: SandboxViolation | undefined;
    const stop = (why: SandboxViolation) => { violation ??= why; child.kill('SIGKILL'); };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      const room = opts.limits.maxOutputBytes - bytes;
      if (room > 0) into.push(chunk.subarray(0, room));
      bytes += chunk.length;
      if (bytes > opts.limits.maxOutputBytes) stop('output');
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => { /* the program exited without reading its stdin */ });
    const timer = setTimeout(() => stop('wall_time'), opts.limits.wallMs);
    const onAbort = () => stop('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stderr = Buffer.concat(err).toString('utf8');
      const exitCode = code ?? (signal ? 128 + 9 : null);
      if (!violation && exitCode === SIGXCPU_EXIT) violation = 'cpu_time';
      if (!violation && exitCode !== 0 && /\bMemoryError\b|Cannot allocate memory|std::bad_alloc/.test(stderr)) violation = 'memory';
      if (!violation && exitCode !== 0 && /BlockingIOError: \[Errno 11\]|Resource temporarily unavailable/.test(stderr)) violation = 'processes';
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr, exitCode, violation, durationMs: Date.now() - started });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** A one-line explanation of a violation, naming the limit. */
export function describeViolation(v: SandboxViolation, limits: SandboxLimits): string {
  switch (v) {
    case 'wall_time': return `stopped: wall-clock limit of ${limits.wallMs} ms exceeded`;
    case 'cpu_time': return `stopped: CPU time limit of ${limits.cpuSeconds} s exceeded`;
    case 'memory': return `stopped: memory limit of ${limits.memoryMb} MiB exceeded`;
    case 'output': return `stopped: output limit of ${limits.maxOutputBytes} bytes exceeded`;
    case 'processes': return `stopped: process limit of ${limits.maxProcesses} reached (fork bomb?)`;
    case 'cancelled': return 'stopped: the call was cancelled';
  }
}

export type SandboxProbe = { ok: true; features: SandboxFeatures; notes: string[] } | { ok: false; reason: string };

/**
 * Checks once that bwrap can start `probeProgram` here, first with every hardening flag, then without
 * the ones older bwrap lacks. The answer says which flags were dropped, or why no sandbox works.
 */
export async function probeSandbox(probeProgram: readonly string[]): Promise<SandboxProbe> {
  const limits = { ...DEFAULT_SANDBOX_LIMITS, wallMs: 20_000 };
  const attempts: Array<[SandboxFeatures, string[]]> = [
    [{ disableUserns: true, tmpSize: true }, []],
    [{ disableUserns: false, tmpSize: true }, ['bwrap lacks --disable-userns (needs 0.8): nested user namespaces stay possible']],
    [{ disableUserns: false, tmpSize: false }, ['bwrap lacks --size (needs 0.7): /tmp is capped only by RLIMIT_FSIZE per file']],
  ];
  let last = '';
  for (const [features, notes] of attempts) {
    try {
      const r = await runSandboxed(probeProgram, { limits, features });
      if (r.exitCode === 0) return { ok: true, features, notes };
      last = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ') || `exit code ${r.exitCode}`;
    } catch (err) {
      return { ok: false, reason: `cannot start the sandbox: ${(err as Error).message} (install bubblewrap and util-linux)` };
    }
  }
  return { ok: false, reason: `bubblewrap cannot start here: ${last}` };
}
