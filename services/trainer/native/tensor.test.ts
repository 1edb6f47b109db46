import { describe, expect, it } from 'vitest';
import { AdamW, clipGradNorm } from './optim.js';
import { Tensor, isGradEnabled, keep, noGrad, tidy, tokenLogprobs } from './tensor.js';
import { loadNative } from './index.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(Number(a[i]) - Number(b[i]))).toBeLessThanOrEqual(tol);
};

describe('Tensor', () => {
  it('round-trips typed arrays in every supported dtype', () => {
    tidy(() => {
      const f = Tensor.fromData(new Float32Array([1.5, -2, 3]), [3]);
      expect(f.dtype).toBe('float32');
      expect(f.shape).toEqual([3]);
      expect(Array.from(f.data() as Float32Array)).toEqual([1.5, -2, 3]);
      const bf = f.to('bfloat16');
      expect(bf.dtype).toBe('bfloat16');
      // bf16 keeps 8 bits of mantissa: these values are exact; the raw bits are the top half of fp32's.
      expect(bf.toArray()).toEqual([1.5, -2, 3]);
      expect(Array.from(bf.data() as Uint16Array)).toEqual([0x3fc0, 0xc000, 0x4040]);
      expect(Tensor.fromData(bf.data(), [3], 'bfloat16').toArray()).toEqual([1.5, -2, 3]);
      expect(f.to('float16').toArray()).toEqual([1.5, -2, 3]);
      const ids = Tensor.ids([1, 128_255, 7], [1, 3]);
      expect(ids.dtype).toBe('int64');
      expect(ids.data()).toBeInstanceOf(BigInt64Array);
      expect(ids.toArray()).toEqual([1, 128_255, 7]);
      const u8 = Tensor.fromData(new Uint8Array([0, 255, 7]), [3]);
      expect(u8.dtype).toBe('uint8');
      expect(u8.toArray()).toEqual([0, 255, 7]);
      expect(Tensor.fromBytes(f.bytes(), [3], 'float32').toArray()).toEqual([1.5, -2, 3]);
    });
  });

  it('surfaces libtorch errors as JS errors with the libtorch message, and bad arguments as TypeErrors', () => {
    tidy(() => {
      const a = Tensor.zeros([2, 3]);
      expect(() => a.matmul(a)).toThrow(/mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
      expect(() => a.reshape([4, 4])).toThrow(/shape '\[4, 4\]' is invalid/);
      expect(() => Tensor.fromData(new Float32Array(3), [2, 2])).toThrow(/shape holds 4 elements but data has 3/);
      expect(() => a.to('float8' as never)).toThrow(/unknown dtype 'float8' \(allowed: float32, bfloat16/);
      expect(() => loadNative().ops.add(1 as never, a.native)).toThrow(TypeError);
      a.dispose();
      expect(() => a.shape).toThrow(/disposed/);
    });
  });

  it('backpropagates off the JS thread and respects noGrad per async context', async () => {
    const x = keep(Tensor.fromData(new Float32Array([1, -2, 3]), [3]).setRequiresGrad(true));
    const y = tidy(() => x.mul(x).sum());
    await y.backward();
    close(x.grad!.toArray(), [2, -4, 6]);
    // A noGrad section awaiting beside a grad section does not turn gradients off for it.
    const off = noGrad(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return tidy(() => x.mul(2).requiresGrad);
    });
    expect(tidy(() => x.mul(2).requiresGrad)).toBe(true);
    expect(isGradEnabled()).toBe(true);
    expect(await off).toBe(false);
    x.dispose();
  });

  it('tidy frees everything but the result, which moves to the enclosing scope', async () => {
    let inner: Tensor[] = [];
    const outer = await tidy(async () => {
      const r = await tidy(async () => {
        const a = Tensor.ones([4]);
        const b = a.add(1);
        inner = [a, b];
        return { b };
      });
      expect(inner[0]!.disposed).toBe(true);
      expect(r.b.disposed).toBe(false);
      return r.b.mul(3);
    });
    expect(inner[1]!.disposed).toBe(true);  // the outer scope freed it
    expect(outer.toArray()).toEqual([6, 6, 6, 6]);
    outer.dispose();
  });

  it('tokenLogprobs matches log_softmax + gather, and its gradient matches autograd', async () => {
    const logits = keep(Tensor.randn([5, 11]).setRequiresGrad(true));
    const targets = keep(Tensor.ids([0, 3, 10, 5, 5]));
    const fused = tidy(() => tokenLogprobs(logits, targets).mul(Tensor.fromData(new Float32Array([1, 2, 3, 4, 5]), [5])).sum());
    const plain = tidy(() => logits.logSoftmax(-1).gather(1, targets.unsqueeze(1)).squeeze(1).mul(Tensor.fromData(new Float32Array([1, 2, 3, 4, 5]), [5])).sum());
    close([fused.item()], [plain.item()], 1e-5);
    await fused.backward();
    const g1 = logits.grad!.toArray();
    noGrad(() => logits.grad!.zero_());
    await plain.backward();
    close(g1, logits.grad!.toArray(), 1e-6);
    for (const t of [logits, targets, fused, plain]) t.dispose();
    // Strided rows (a narrow() of [b, t, v], as for the last positions of a batch) read in place.
    tidy(() => {
      const big = Tensor.randn([2, 5, 300]).mul(4);
      const view = big.narrow(1, 1, 4);
      const idx = Tensor.ids([0, 299, 7, 150, 3, 3, 42, 298], [2, 4]);
      close(tokenLogprobs(view, idx).toArray(), view.logSoftmax(-1).gather(2, idx.unsqueeze(2)).squeeze(2).toArray(), 1e-5);
    });
  });

  it('AdamW matches the published update rule, and clipGradNorm returns the pre-clip norm', async () => {
    const p = keep(Tensor.fromData(new Float32Array([1, 2]), [2]).setRequiresGrad(true));
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.01 });
    await tidy(() => p.mul(Tensor.fromData(new Float32Array([3, 4]), [2])).sum()).backward();  // grad = [3, 4]
    expect(clipGradNorm([p], 1)).toBeCloseTo(5, 5);
    close(p.grad!.toArray(), [0.6, 0.8], 1e-6);
    await opt.step();
    // step 1: m̂ = g, v̂ = g², update = lr·g/(|g|+eps) = lr·sign(g); decay first: p·(1 − lr·wd).
    close(p.toArray(), [1 * (1 - 0.001) - 0.1, 2 * (1 - 0.001) - 0.1], 1e-6);
    const state = opt.state();
    expect(state[0]!.step).toBe(1);
    close(state[0]!.expAvg.toArray(), [0.06, 0.08], 1e-6);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    p.dispose();
  });

  it('reuses freed large CPU blocks from a bounded cache, and gives them back on request', () => {
    const n = loadNative();
    n.emptyCpuCache();
    const a = Tensor.zeros([1024, 1024]);  // 4 MiB: cached size class
    a.dispose();
    expect(n.cpuCache().cachedBytes).toBe(4 * 2 ** 20);
    const b = Tensor.ones([1024, 1024]);  // same size: served from the cache
    expect(n.cpuCache().cachedBytes).toBe(0);
    expect(b.sum().item()).toBe(1024 * 1024);
    n.setCpuCacheLimit(0);
    b.dispose();
    expect(n.cpuCache().cachedBytes).toBe(0);
    n.setCpuCacheLimit(2 ** 30);
  });

  it('serves nearby sizes from one cached block (size classes, best fit) and evicts the least recently freed', () => {
    const n = loadNative();
    const MiB = 2 ** 20;
    n.emptyCpuCache();
    // 4 MiB + 1 float rounds up to the next class, 4.5 MiB (eight classes per doubling).
    Tensor.zeros([1024 * 1024 + 1]).dispose();
    expect(n.cpuCache().cachedBytes).toBe(4.5 * MiB);
    // A smaller request (up to half the block) takes the cached block rather than a fresh one.
    const c = Tensor.zeros([700, 1024]);
    expect(n.cpuCache().cachedBytes).toBe(0);
    c.dispose();
    // A full cache makes room for a new block by freeing its oldest ones.
    n.setCpuCacheLimit(6 * MiB);
    Tensor.zeros([512 * 1024]).dispose();  // 2 MiB
    expect(n.cpuCache().cachedBytes).toBe(2 * MiB);  // the 4.5 MiB block went, the newer 2 MiB stays
    Tensor.zeros([1024 * 1024]).dispose();  // 4 MiB: 2 + 4 = 6 fits
    expect(n.cpuCache().cachedBytes).toBe(6 * MiB);
    n.setCpuCacheLimit(2 ** 30);
    n.emptyCpuCache();
  });

  it('NF4 round trip stays within bitsandbytes test bounds (mean abs error < 0.1, mean rel error < 0.28)', () => {
    // bitsandbytes tests/test_functional.py test_4bit_quant: randn(1024, 1024), blocksize 64, nf4.
    tidy(() => {
      const w = Tensor.randn([1024, 1024]);
      for (const doubleQuant of [false, true]) {
        const q = loadNative().ops.nf4Quantize(w.native, 64, doubleQuant);
        const back = new Tensor(loadNative().ops.nf4Dequantize(q, [1024, 1024], 'float32'));
        const err = back.sub(w).abs();
        expect(err.mean().item()).toBeLessThan(0.1);
        expect(err.div(w.abs().add(1e-8)).mean().item()).toBeLessThan(0.28);
        // Every value is within half the widest NF4 level gap of its block's scale.
        expect(err.amax().item()).toBeLessThanOrEqual(w.abs().amax().item() * 0.152 + 1e-3);
        expect(new Tensor(q.codes).numel).toBe(1024 * 1024 / 2);
        for (const t of [q.codes, q.absmax, q.absmaxCodes, q.absmaxScale]) t?.dispose();
      }
    });
  });
});
