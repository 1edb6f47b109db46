/**
 * The decoder block's fused pieces (rmsNorm, swiglu, qkvRope) against the same maths written with plain
 * tensor ops (HF modeling_llama's formulas), forward and backward: fp32 on the CPU takes the hand-written
 * loops of kernels.h, bf16 the libtorch-op path. On a GPU the same checks run in scripts/bench/gpu.ts
 * (fused CUDA kernels against libtorch's ops).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, qkvRope, rmsNorm, swiglu, tidy } from './tensor.js';

/** Relative L2 distance of two tensors' values. */
function relErr(a: Tensor, b: Tensor): number {
  const x = a.to('float32').toArray(), y = b.to('float32').toArray();
  expect(x.length).toBe(y.length);
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i]! - y[i]!) ** 2;
    den += y[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** y = f(x) and d(sum(y · g))/dx for a fixed random g: the output and the input gradient. */
async function withGrad(x: Tensor, f: (x: Tensor) => Tensor[], seed = 3): Promise<{ outs: Tensor[]; grad: Tensor }> {
  const leaf = x.detach().setRequiresGrad(true);
  const outs = f(leaf);
  manualSeed(seed);
  const loss = outs.map((o) => o.mul(Tensor.randn(o.shape).to(o.dtype)).to('float32').sum()).reduce((a, b) => a.add(b));
  await loss.backward();
  return { outs: outs.map((o) => o.detach()), grad: leaf.grad!.detach() };
}

const rotateHalf = (x: Tensor) => {
  const half = x.shape.at(-1)! / 2;
  return Tensor.cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
};

describe('fused block ops', () => {
  it('rmsNorm equals weight * (x / sqrt(mean(x²) + eps)), forward and input gradient', async () => {
    manualSeed(1);
    const x = Tensor.randn([6, 40]).mul(3), w = Tensor.randn([40]);
    const ref = (t: Tensor) => [w.mul(t.mul(t.pow(2).mean(-1, true).add(1e-5).rsqrt()))];
    const fused = await withGrad(x, (t) => [rmsNorm(t, w, 1e-5)]);
    const plain = await withGrad(x, ref);
    expect(relErr(fused.outs[0]!, plain.outs[0]!)).toBeLessThan(1e-6);
    expect(relErr(fused.grad, plain.grad)).toBeLessThan(1e-5);
    // bf16 (the op path): the fp32 answer within bf16 rounding.
    const bf = await withGrad(x.to('bfloat16'), (t) => [rmsNorm(t, w.to('bfloat16'), 1e-5)]);
    expect(bf.outs[0]!.dtype).toBe('bfloat16');
    expect(relErr(bf.outs[0]!, plain.outs[0]!)).toBeLessThan(2e-2);
    expect(relErr(bf.grad, plain.grad)).toBeLessThan(3e-2);
  });

  it('swiglu equals silu(gate) * up over the fused gate|up halves, forward and input gradient', async () => {
    manualSeed(2);
    const gu = Tensor.randn([5, 2 * 24]).mul(2);
    const ref = (t: Tensor) => [t.narrow(-1, 0, 24).silu().mul(t.narrow(-1, 24, 24))];
    const fused = await withGrad(gu, (t) => [swiglu(t)]);
    const plain = await withGrad(gu, ref);
    expect(fused.outs[0]!.shape).toEqual([5, 24]);
    expect(relErr(fused.outs[0]!, plain.outs[0]!)).toBeLessThan(1e-6);
    expect(relErr(fused.grad, plain.grad)).toBeLessThan(1e-5);
    const bf = await withGrad(gu.to('bfloat16'), (t) => [swiglu(t)]);
    expect(relErr(bf.outs[0]!, plain.outs[0]!)).toBeLessThan(2e-2);
    expect(relErr(bf.grad, plain.grad)).toBeLessThan(3e-2);
  });

  it('qkvRope splits heads (GQA) and rotates q and k as HF apply_rotary_pos_emb, forward and input gradient', async () => {
    manualSeed(3);
    const [b, t, nh, nkv, hd] = [2, 7, 4, 2, 8];
    const qkv = Tensor.randn([b, t, (nh + 2 * nkv) * hd]);
    const angles = Tensor.randn([1, t, hd / 2]).mul(3);
    const cos = Tensor.cat([angles, angles], -1).to('float32').sigmoid();  // any per-position values do
    const sin = Tensor.cat([angles, angles], -1).tanh();
    const dims = { heads: nh, kvHeads: nkv, headDim: hd, qScale: 0.5 };
    const ref = (x: Tensor) => {
      const heads = x.reshape([b, t, nh + 2 * nkv, hd]).transpose(1, 2);
      const c = cos.unsqueeze(1), s = sin.unsqueeze(1);
      const rope = (h: Tensor) => h.mul(c).add(rotateHalf(h).mul(s));
      return [rope(heads.narrow(1, 0, nh)).mul(0.5), rope(heads.narrow(1, nh, nkv)), heads.narrow(1, nh + nkv, nkv)];
    };
    const fused = await withGrad(qkv, (x) => qkvRope(x, cos, sin, dims));
    const plain = await withGrad(qkv, ref);
    expect(fused.outs.map((o) => o.shape)).toEqual([[b, nh, t, hd], [b, nkv, t, hd], [b, nkv, t, hd]]);
    fused.outs.forEach((o, i) => expect(relErr(o, plain.outs[i]!)).toBeLessThan(1e-6));
    expect(relErr(fused.grad, plain.grad)).toBeLessThan(1e-5);
    const bf = await withGrad(qkv.to('bfloat16'), (x) => qkvRope(x, cos.to('bfloat16'), sin.to('bfloat16'), dims));
    bf.outs.forEach((o, i) => expect(relErr(o, plain.outs[i]!)).toBeLessThan(2e-2));
    expect(relErr(bf.grad, plain.grad)).toBeLessThan(3e-2);
  });

  it('rejects a qkvRope call without its head counts, naming the field', () => {
    tidy(() => {
      const qkv = Tensor.randn([1, 2, 24]), cs = Tensor.ones([1, 2, 8]);
      expect(() => qkvRope(qkv, cs, cs, { heads: 1, headDim: 8 } as never)).toThrow(/dims\.kvHeads is required/);
    });
  });
});
