/**
 * Progress output as a user sees it: bars on a terminal (two at once share one MultiBar, each keeps its
 * line), JSON lines elsewhere.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.js';

/** A writable that says it is a terminal and keeps what was written. */
function fakeTerminal(): NodeJS.WriteStream & { text(): string } {
  const chunks: string[] = [];
  const w = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } }) as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(w, {
    isTTY: true, columns: 120, rows: 40,
    cursorTo: (_x: number, _y?: number | (() => void), cb?: () => void) => { if (typeof _y === 'function') _y(); cb?.(); return true; },
    moveCursor: (_dx: number, _dy: number, cb?: () => void) => { cb?.(); return true; },
    clearLine: (_dir: number, cb?: () => void) => { cb?.(); return true; },
    clearScreenDown: (cb?: () => void) => { cb?.(); return true; },
    text: () => chunks.join(''),
  });
  return w;
}

describe('createProgress', () => {
  it('draws two bars at once on a terminal, each with its label, count, rate and ETA', () => {
    const tty = fakeTerminal();
    const a = createProgress('rollouts', { unit: 'questions', total: 10, stream: tty, fields: { entropy: '-' } });
    const b = createProgress('pretrain', { unit: 'steps', total: 4, stream: tty });
    a.update(5, { entropy: '2.19' });
    b.update(4);
    b.stop();
    a.update(10, { entropy: '2.20' });
    a.stop();
    const out = tty.text();
    expect(out).toMatch(/rollouts \[[^\]]*\] 10\/10 questions \| [\d.]+\/s \| ETA \S+ \| entropy 2\.20/);
    expect(out).toMatch(/pretrain \[[^\]]*\] 4\/4 steps/);
    // A second stop is harmless, and a new bar after all stopped starts a fresh group.
    a.stop();
    const c = createProgress('eval', { unit: 'answers', total: 2, stream: tty });
    c.update(2);
    c.stop();
    expect(tty.text()).toMatch(/eval \[[^\]]*\] 2\/2 answers/);
  });

  it('writes JSON lines with rate and ETA when not on a terminal', () => {
    const lines: string[] = [];
    const stream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) as unknown as NodeJS.WriteStream;
    const p = createProgress('sft', { unit: 'steps', total: 3, stream, tty: false, logEveryMs: 0 });
    p.update(1);
    p.update(3, { loss: '0.5' });
    p.stop();
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.at(-1)).toMatchObject({ progress: 'sft', done: 3, total: 3, unit: 'steps', eta_s: 0, loss: '0.5' });
    expect(parsed[0]).toMatchObject({ done: 1, total: 3 });
    expect(typeof parsed[0].rate_per_s).toBe('number');
  });
});
