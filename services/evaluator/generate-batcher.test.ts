/**
 * The generate batcher with a scripted upstream (no gRPC): which calls share a batch, rows handed to
 * their callers by index, cancellation of one caller or all of them, and failures of the batch call.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../common/errors.js';
import { GenerateBatcher, type BatchPiece, type SendBatch } from './generate-batcher.js';

interface Sent { conversations: string[]; settings: string; signal: AbortSignal }

/**
 * An upstream that answers each conversation `c` with the pieces "c:" and "end", one piece per row in
 * turn; `gate` (when given) holds the stream before its first piece until it resolves.
 */
function upstream(opts: { gate?: Promise<void>; failAfter?: number; endEarly?: boolean } = {}) {
  const sent: Sent[] = [];
  const send: SendBatch<string, string> = async function* (conversations, settings, signal) {
    sent.push({ conversations, settings, signal });
    if (opts.gate) await opts.gate;
    let yielded = 0;
    for (const [step, text] of [':', 'end'].entries()) {
      for (const [index, c] of conversations.entries()) {
        if (opts.failAfter !== undefined && yielded === opts.failAfter) throw new Error('trainer unavailable');
        if (opts.endEarly && step === 1 && index === conversations.length - 1) return;
        yielded += 1;
        signal.throwIfAborted();
        yield { index, text: step === 0 ? `${c}${text}` : text, finished: step === 1 } satisfies BatchPiece;
      }
    }
  };
  return { sent, send };
}

const never = () => new AbortController().signal;
const released = () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  return { gate, open };
};

describe('GenerateBatcher', () => {
  it('sends concurrent calls with the same settings as one batch and hands each caller its own row', async () => {
    const { sent, send } = upstream();
    const batcher = new GenerateBatcher(send, { maxBatch: 8, windowMs: 5 });
    const rows = await Promise.all(['a', 'b', 'c'].map((c) => batcher.generate(c, 'greedy', never())));
    expect(rows).toEqual([{ text: 'a:end', tokens: 2 }, { text: 'b:end', tokens: 2 }, { text: 'c:end', tokens: 2 }]);
    expect(sent.map((s) => s.conversations)).toEqual([['a', 'b', 'c']]);
    expect(batcher.stats).toEqual({ calls: 3, batches: 1, largestBatch: 3 });
  });

  it('keeps different settings apart and sends a full batch at once, without waiting for the window', async () => {
    const { sent, send } = upstream();
    const batcher = new GenerateBatcher(send, { maxBatch: 2, windowMs: 3_600_000 });
    const rows = await Promise.all([
      batcher.generate('a', 'cot', never()), batcher.generate('x', 'step', never()),
      batcher.generate('b', 'cot', never()), batcher.generate('y', 'step', never()),
    ]);
    expect(rows.map((r) => r.text)).toEqual(['a:end', 'x:end', 'b:end', 'y:end']);
    expect(sent.map((s) => [s.settings, s.conversations])).toEqual([['cot', ['a', 'b']], ['step', ['x', 'y']]]);
  });

  it('holds calls that arrive while a batch of the same settings runs, and sends them together after it', async () => {
    const first = released();
    const { sent, send } = upstream({ gate: first.gate });
    const batcher = new GenerateBatcher(send, { maxBatch: 8, windowMs: 1 });
    const a = batcher.generate('a', 'greedy', never());
    await new Promise((resolve) => setTimeout(resolve, 20)); // the window passes: 'a' goes alone
    expect(sent).toHaveLength(1);
    const later = ['b', 'c', 'd'].map((c) => batcher.generate(c, 'greedy', never()));
    await new Promise((resolve) => setTimeout(resolve, 20)); // windows pass, but a batch is running
    expect(sent).toHaveLength(1);
    first.open();
    expect((await a).text).toBe('a:end');
    expect((await Promise.all(later)).map((r) => r.text)).toEqual(['b:end', 'c:end', 'd:end']);
    expect(sent.map((s) => s.conversations)).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('sends calls marked alone at once, one per batch, and maxBatch 1 turns batching off', async () => {
    const { sent, send } = upstream();
    const batcher = new GenerateBatcher(send, { maxBatch: 8, windowMs: 3_600_000 });
    await Promise.all([batcher.generate('a', 'sampled', never(), { alone: true }), batcher.generate('b', 'sampled', never(), { alone: true })]);
    expect(sent.map((s) => s.conversations)).toEqual([['a'], ['b']]);
    const off = upstream();
    const unbatched = new GenerateBatcher(off.send, { maxBatch: 1, windowMs: 3_600_000 });
    await Promise.all([unbatched.generate('a', 'greedy', never()), unbatched.generate('b', 'greedy', never())]);
    expect(off.sent.map((s) => s.conversations)).toEqual([['a'], ['b']]);
  });

  it('drops a caller cancelled while waiting: its conversation is never sent', async () => {
    const { sent, send } = upstream();
    const batcher = new GenerateBatcher(send, { maxBatch: 8, windowMs: 5 });
    const gone = new AbortController();
    const a = batcher.generate('a', 'greedy', never());
    const b = batcher.generate('b', 'greedy', gone.signal);
    gone.abort(new CancelledError('question timed out'));
    await expect(b).rejects.toThrow('question timed out');
    expect((await a).text).toBe('a:end');
    expect(sent.map((s) => s.conversations)).toEqual([['a']]);
    await expect(batcher.generate('c', 'greedy', gone.signal)).rejects.toThrow('question timed out');
  });

  it('lets a caller leave a running batch without failing the others, and cancels the call when all have left', async () => {
    const hold = released();
    const { sent, send } = upstream({ gate: hold.gate });
    const batcher = new GenerateBatcher(send, { maxBatch: 3, windowMs: 3_600_000 });
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const calls = ['a', 'b', 'c'].map((c, i) => batcher.generate(c, 'greedy', controllers[i].signal));
    expect(sent).toHaveLength(1); // full: sent at once
    controllers[1].abort(new CancelledError('b gave up'));
    await expect(calls[1]).rejects.toThrow('b gave up');
    hold.open();
    expect((await calls[0]).text).toBe('a:end');
    expect((await calls[2]).text).toBe('c:end');
    expect(sent[0].signal.aborted).toBe(false);

    const hold2 = released();
    const second = upstream({ gate: hold2.gate });
    const all = new GenerateBatcher(second.send, { maxBatch: 2, windowMs: 3_600_000 });
    const stop = new AbortController();
    const both = [all.generate('x', 'greedy', stop.signal), all.generate('y', 'greedy', stop.signal)];
    stop.abort(new CancelledError('job cancelled'));
    for (const p of both) await expect(p).rejects.toThrow('job cancelled');
    await Promise.resolve();
    expect(second.sent[0].signal.aborted).toBe(true);
    hold2.open();
  });

  it('fails every caller still waiting when the batch call fails; rows already finished keep their answers', async () => {
    // Pieces in order: a ":", b ":", a "end" (a finished), then the call fails before b's "end".
    const { send } = upstream({ failAfter: 3 });
    const batcher = new GenerateBatcher(send, { maxBatch: 2, windowMs: 5 });
    const [a, b] = [batcher.generate('a', 'greedy', never()), batcher.generate('b', 'greedy', never())];
    expect(await a).toEqual({ text: 'a:end', tokens: 2 });
    await expect(b).rejects.toThrow('trainer unavailable');

    const early = upstream({ endEarly: true });
    const cut = new GenerateBatcher(early.send, { maxBatch: 2, windowMs: 5 });
    const [c, d] = [cut.generate('c', 'greedy', never()), cut.generate('d', 'greedy', never())];
    expect((await c).text).toBe('c:end');
    await expect(d).rejects.toThrow('the generation stream ended before row 1 of 2 finished');
  });
});
