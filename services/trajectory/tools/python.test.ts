/**
 * The python sandbox against the escape list of issue 6: network, writing outside tmp, fork bomb,
 * infinite loop, memory bomb (plus an output flood and reading host files). Each must be stopped and
 * reported as the tool's error; the next program must still run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logging.js';
import { WorkerPool } from './isolate.js';
import { PythonSandbox, pythonTool } from './python.js';
import { ToolRegistry } from './registry.js';
import { DEFAULT_SANDBOX_LIMITS, sandboxArgv } from './sandbox.js';

const sandbox = new PythonSandbox('/usr/bin/python3', { ...DEFAULT_SANDBOX_LIMITS, cpuSeconds: 3, wallMs: 8_000, memoryMb: 512 });
const workers = new WorkerPool(1);
const tools = new ToolRegistry([pythonTool(sandbox)], { workers, log: createLogger('test', 'silent') });
const run = (code: string) => tools.run('python', { code });

afterAll(() => workers.close());

describe('python sandbox', () => {
  it('starts here (bubblewrap works in this container)', async () => {
    const probe = await sandbox.probe();
    expect(probe).toMatchObject({ ok: true });
  });

  it('runs numpy, sympy and scipy and returns what the program prints', async () => {
    // MMLU-Pro question_id 11175 style: solve a quadratic numerically and symbolically.
    const call = await run([
      'import numpy as np, sympy as sp, scipy.optimize as so',
      'x = sp.symbols("x")',
      'print(sp.solve(x**2 - 5*x + 6, x))',
      'print(round(so.brentq(lambda t: t**2 - 2, 0, 2), 6))',
      'print(np.linalg.det(np.array([[1, 2], [3, 4]])).round(6))',
    ].join('\n'));
    expect(call.error).toBe('');
    expect(call.output.split('\n')).toEqual(['[2, 3]', '1.414214', '-2.0']);
  });

  it('has no network', async () => {
    const call = await run('import socket\ns = socket.create_connection(("1.1.1.1", 80), timeout=3)\nprint("connected")');
    expect(call.error).toMatch(/python exited with code 1[\s\S]*(Network is unreachable|OSError)/);
    expect(call.output).toBe('');
  });

  it('cannot write outside /tmp, but can write in its private /tmp', async () => {
    const outside = await run('open("/usr/escape.txt", "w").write("x")');
    expect(outside.error).toMatch(/Read-only file system|No such file|Permission denied/);
    const home = await run('open("/root/escape.txt", "w").write("x")');
    expect(home.error).toMatch(/No such file or directory|Permission denied|Read-only/);
    const tmp = await run('open("/tmp/ok.txt", "w").write("hello")\nprint(open("/tmp/ok.txt").read())');
    expect(tmp.output).toBe('hello');
  });

  it('cannot read host files outside the system binds', async () => {
    const call = await run('print(open("/etc/shadow").read())');
    expect(call.error).toMatch(/No such file or directory|Permission denied/);
  });

  it('stops a fork bomb at the process limit', async () => {
    const call = await run('import os\nwhile True:\n    os.fork()');
    expect(call.error).toMatch(/process limit|Resource temporarily unavailable|BlockingIOError/);
  });

  it('stops an infinite loop at the CPU limit', async () => {
    const call = await run('while True:\n    pass');
    expect(call.error).toMatch(/CPU time limit of 3 s exceeded|wall-clock limit/);
  });

  it('stops a memory bomb', async () => {
    const call = await run('x = bytearray(4 * 1024 ** 3)\nprint(len(x))');
    expect(call.error).toMatch(/memory limit of 512 MiB exceeded/);
  });

  it('stops an output flood at the output cap', async () => {
    const call = await run('while True:\n    print("spam" * 100)');
    expect(call.error).toMatch(/output limit of 65536 bytes exceeded/);
  });

  it('reports a traceback as the error and keeps serving afterwards', async () => {
    const bad = await run('1 / 0');
    expect(bad.error).toMatch(/ZeroDivisionError/);
    const good = await run('print(sum(range(10)))');
    expect(good.output).toBe('45');
  });

  it('runs as nobody in its own namespaces', async () => {
    const call = await run('import os\nprint(os.getuid(), os.getpid() < 10, sorted(os.listdir("/")))');
    expect(call.output).toMatch(/^65534 True /);
    expect(call.output).not.toMatch(/'root'|'home'|'work'/);
  });

  it('puts prlimit, setpriv (as root) and bwrap in front of the program', () => {
    const argv = sandboxArgv(['/usr/bin/python3'], DEFAULT_SANDBOX_LIMITS, { disableUserns: true, tmpSize: true }, true);
    expect(argv[0]).toBe('prlimit');
    expect(argv).toContain('--unshare-all');
    expect(argv).toContain('--nproc=32');
    expect(argv.indexOf('setpriv')).toBeLessThan(argv.indexOf('bwrap'));
    expect(argv.at(-1)).toBe('/usr/bin/python3');
  });
});
