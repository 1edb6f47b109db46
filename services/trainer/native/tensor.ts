/**
 * `Tensor`: the TypeScript face of a libtorch tensor, plus deterministic freeing and grad mode.
 *
 * Memory is freed by scopes, never by the GC alone: `tidy(fn)` disposes every tensor created inside `fn`
 * except what `fn` returns (those move to the enclosing scope), and `dispose()` frees one at once.
 * Scopes and `noGrad` follow the async context (AsyncLocalStorage), so a generation request awaiting
 * inside the trainer process never frees — or turns off gradients for — the training step beside it.
 *
 * ```ts
 * const loss = await tidy(async () => {
 *   const { logits } = await model.forward(ids);
 *   return tokenLogprobs(logits, targets).mul(mask).sum().neg().div(mask.sum());
 * });
 * await loss.backward();
 * ```
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadNative, type DType, type NativeBinding, type NativeTensor, type TypedArray } from './index.js';

const scopes = new AsyncLocalStorage<Set<Tensor>>();
const gradModes = new AsyncLocalStorage<boolean>();
let nativeGradMode: boolean | undefined;

/**
 * The addon, with libtorch's (per-thread) grad mode set to the current async context's. Every native
 * call goes through here; async native calls capture the mode when they are made.
 */
export function native(): NativeBinding {
  const b = loadNative();
  const want = gradModes.getStore() ?? true;
  if (want !== nativeGradMode) {
    b.setGradEnabled(want);
    nativeGradMode = want;
  }
  return b;
}

/** Runs `fn` with autograd off (no graph is recorded, as torch.no_grad). */
export function noGrad<R>(fn: () => R): R {
  return gradModes.run(false, fn);
}

/** Whether autograd records in the current async context. */
export function isGradEnabled(): boolean {
  return gradModes.getStore() ?? true;
}

/** Runs `fn` in a new scope: tensors it creates are disposed when it settles, except those it returns. */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  const parent = scopes.getStore();
  const close = (result: unknown) => {
    const kept = new Set<Tensor>();
    collectTensors(result, kept, 0);
    for (const t of scope) if (!kept.has(t)) t.dispose();
    if (parent) for (const t of kept) if (scope.has(t)) parent.add(t);
  };
  let result: R;
  try {
    result = scopes.run(scope, fn);
  } catch (err) {
    close(undefined);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => (close(v), v),
      (err) => {
        close(undefined);
        throw err;
      },
    ) as R;
  }
  close(result);
  return result;
}

/** Takes tensors out of the current scope: the caller disposes them (e.g. weights kept by a model). */
export function keep<X extends Tensor | Tensor[]>(x: X): X {
  const scope = scopes.getStore();
  if (scope) for (const t of Array.isArray(x) ? x : [x]) scope.delete(t);
  return x;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 3 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
  } else if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, out, depth + 1);
  } else if (Object.getPrototypeOf(v) === Object.prototype || v instanceof Map) {
    for (const x of v instanceof Map ? v.values() : Object.values(v)) collectTensors(x, out, depth + 1);
  }
}

type Scalar = Tensor | number;
const raw = (x: Scalar): NativeTensor | number => (x instanceof Tensor ? x.native : x);

export class Tensor {
  #h: NativeTensor | null;

  /** Wraps a native handle and registers it with the current scope. */
  constructor(handle: NativeTensor) {
    this.#h = handle;
    scopes.getStore()?.add(this);
  }

  /** The native handle (throws once disposed). */
  get native(): NativeTensor {
    if (!this.#h) throw new Error('tensor was disposed');
    return this.#h;
  }

  get disposed(): boolean {
    return this.#h === null;
  }

  /** Frees the tensor's memory now (idempotent). */
  dispose(): void {
    this.#h?.dispose();
    this.#h = null;
  }

  get shape(): number[] { return this.native.shape; }
  get dtype(): DType { return this.native.dtype; }
  get device(): string { return this.native.device; }
  get numel(): number { return this.native.numel; }
  get requiresGrad(): boolean { return this.native.requiresGrad; }

  setRequiresGrad(requiresGrad = true): this {
    this.native.setRequiresGrad(requiresGrad);
    return this;
  }

  /** The accumulated gradient, or null; a new handle on the same memory. */
  get grad(): Tensor | null {
    const g = this.native.grad;
    return g ? new Tensor(g) : null;
  }

  /** Runs backpropagation from this tensor off the JS thread. */
  backward(gradient?: Tensor): Promise<void> {
    native();
    return this.native.backward(gradient?.native);
  }

  /** A copy of the elements in the dtype's own typed array (bf16/fp16 as raw Uint16 bits). */
  data(): TypedArray { return this.native.data(); }

  /** The elements as plain numbers (any dtype). */
  toArray(): number[] {
    if (this.dtype === 'bfloat16' || this.dtype === 'float16') return tidy(() => this.to('float32').toArray());
    return Array.from(this.data() as ArrayLike<number | bigint>, Number);
  }

  /** Raw little-endian bytes (safetensors payload). */
  bytes(): Buffer { return this.native.bytes(); }

  item(): number { return this.native.item(); }

  // Element-wise math (other: tensor or number, broadcasting as libtorch does).
  add(o: Scalar): Tensor { return new Tensor(native().ops.add(this.native, raw(o))); }
  sub(o: Scalar): Tensor { return new Tensor(native().ops.sub(this.native, raw(o))); }
  mul(o: Scalar): Tensor { return new Tensor(native().ops.mul(this.native, raw(o))); }
  div(o: Scalar): Tensor { return new Tensor(native().ops.div(this.native, raw(o))); }
  pow(o: Scalar): Tensor { return new Tensor(native().ops.pow(this.native, raw(o))); }
  maximum(o: Scalar): Tensor { return new Tensor(native().ops.maximum(this.native, raw(o))); }
  minimum(o: Scalar): Tensor { return new Tensor(native().ops.minimum(this.native, raw(o))); }
  eq(o: Scalar): Tensor { return new Tensor(native().ops.eq(this.native, raw(o))); }
  ne(o: Scalar): Tensor { return new Tensor(native().ops.ne(this.native, raw(o))); }
  lt(o: Scalar): Tensor { return new Tensor(native().ops.lt(this.native, raw(o))); }
  le(o: Scalar): Tensor { return new Tensor(native().ops.le(this.native, raw(o))); }
  gt(o: Scalar): Tensor { return new Tensor(native().ops.gt(this.native, raw(o))); }
  ge(o: Scalar): Tensor { return new Tensor(native().ops.ge(this.native, raw(o))); }
  logicalAnd(o: Scalar): Tensor { return new Tensor(native().ops.logicalAnd(this.native, raw(o))); }
  logicalOr(o: Scalar): Tensor { return new Tensor(native().ops.logicalOr(this.native, raw(o))); }
  matmul(o: Tensor): Tensor { return new Tensor(native().ops.matmul(this.native, o.native)); }
  neg(): Tensor { return new Tensor(native().ops.neg(this.native)); }
  exp(): Tensor { return new Tensor(native().ops.exp(this.native)); }
  log(): Tensor { return new Tensor(native().ops.log(this.native)); }
  sqrt(): Tensor { return new Tensor(native().ops.sqrt(this.native)); }
  rsqrt(): Tensor { return new Tensor(native().ops.rsqrt(this.native)); }
  abs(): Tensor { return new Tensor(native().ops.abs(this.native)); }
  sign(): Tensor { return new Tensor(native().ops.sign(this.native)); }
  sigmoid(): Tensor { return new Tensor(native().ops.sigmoid(this.native)); }
  tanh(): Tensor { return new Tensor(native().ops.tanh(this.native)); }
  silu(): Tensor { return new Tensor(native().ops.silu(this.native)); }
  logicalNot(): Tensor { return new Tensor(native().ops.logicalNot(this.native)); }
  clamp(min: number | null, max: number | null = null): Tensor {
    return new Tensor(native().ops.clamp(this.native, min, max));
  }
  maskedFill(mask: Tensor, value: number): Tensor { return new Tensor(native().ops.maskedFill(this.native, mask.native, value)); }

  // Reductions: no dims = over all elements.
  sum(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native().ops.sum(this.native, dims, keepdim)); }
  mean(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native().ops.mean(this.native, dims, keepdim)); }
  amax(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native().ops.amax(this.native, dims, keepdim)); }
  amin(dims?: number | number[], keepdim = false): Tensor { return new Tensor(native().ops.amin(this.native, dims, keepdim)); }
  logsumexp(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native().ops.logsumexp(this.native, dims, keepdim));
  }
  var(dims?: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native().ops.var(this.native, dims, unbiased, keepdim));
  }
  argmax(dim: number, keepdim = false): Tensor { return new Tensor(native().ops.argmax(this.native, dim, keepdim)); }
  softmax(dim: number): Tensor { return new Tensor(native().ops.softmax(this.native, dim)); }
  logSoftmax(dim: number): Tensor { return new Tensor(native().ops.logSoftmax(this.native, dim)); }
  cumsum(dim: number): Tensor { return new Tensor(native().ops.cumsum(this.native, dim)); }

  // Indexing and shape.
  gather(dim: number, index: Tensor): Tensor { return new Tensor(native().ops.gather(this.native, dim, index.native)); }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native().ops.indexSelect(this.native, dim, index.native));
  }
  reshape(shape: number[]): Tensor { return new Tensor(native().ops.reshape(this.native, shape)); }
  expand(shape: number[]): Tensor { return new Tensor(native().ops.expand(this.native, shape)); }
  transpose(d0: number, d1: number): Tensor { return new Tensor(native().ops.transpose(this.native, d0, d1)); }
  permute(dims: number[]): Tensor { return new Tensor(native().ops.permute(this.native, dims)); }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native().ops.narrow(this.native, dim, start, length));
  }
  squeeze(dim?: number): Tensor { return new Tensor(native().ops.squeeze(this.native, dim)); }
  unsqueeze(dim: number): Tensor { return new Tensor(native().ops.unsqueeze(this.native, dim)); }
  contiguous(): Tensor { return new Tensor(native().ops.contiguous(this.native)); }
  detach(): Tensor { return new Tensor(native().ops.detach(this.native)); }
  clone(): Tensor { return new Tensor(native().ops.clone(this.native)); }
  /** Converts dtype and/or moves to a device ('cpu', 'cuda', 'cuda:1'). */
  to(dtype: DType | null, device: string | null = null): Tensor {
    return new Tensor(native().ops.to(this.native, dtype, device));
  }

  // In place (no autograd): initialisation and parameter surgery.
  copy_(src: Tensor): this { native().ops.copy_(this.native, src.native); return this; }
  uniform_(low: number, high: number): this { native().ops.uniform_(this.native, low, high); return this; }
  normal_(mean: number, std: number): this { native().ops.normal_(this.native, mean, std); return this; }
  zero_(): this { native().ops.zero_(this.native); return this; }

  /** Same dtype, shape and bytes. */
  equal(o: Tensor): boolean { return native().ops.equal(this.native, o.native); }

  static fromData(data: TypedArray, shape: number[], dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.fromData(data, shape, dtype, device));
  }
  static fromBytes(bytes: Uint8Array, shape: number[], dtype: DType, device?: string): Tensor {
    return new Tensor(native().factories.fromBytes(bytes, shape, dtype, device));
  }
  /** Reads a tensor's bytes at `offset` of a file straight into tensor memory, off the JS thread. */
  static async readFile(path: string, offset: number, shape: number[], dtype: DType, device?: string): Promise<Tensor> {
    return new Tensor(await native().factories.readFile(path, offset, shape, dtype, device));
  }
  static zeros(shape: number[], dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.zeros(shape, dtype, device));
  }
  static ones(shape: number[], dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.ones(shape, dtype, device));
  }
  static full(shape: number[], value: number, dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.full(shape, value, dtype, device));
  }
  /** Integers [start, end) by step; int64 unless dtype says otherwise. */
  static arange(start: number, end: number, step = 1, dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.arange(start, end, step, dtype, device));
  }
  static randn(shape: number[], dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.randn(shape, dtype, device));
  }
  static rand(shape: number[], dtype?: DType, device?: string): Tensor {
    return new Tensor(native().factories.rand(shape, dtype, device));
  }
  static randint(low: number, high: number, shape: number[], device?: string): Tensor {
    return new Tensor(native().factories.randint(low, high, shape, device));
  }
  /** int64 tensor from plain numbers (token ids). */
  static ids(values: number[], shape: number[] = [values.length], device?: string): Tensor {
    return Tensor.fromData(BigInt64Array.from(values, (v) => BigInt(v)), shape, 'int64', device);
  }
  static cat(ts: Tensor[], dim = 0): Tensor { return new Tensor(native().ops.cat(ts.map((t) => t.native), dim)); }
  static stack(ts: Tensor[], dim = 0): Tensor { return new Tensor(native().ops.stack(ts.map((t) => t.native), dim)); }
  static where(cond: Tensor, a: Scalar, b: Scalar): Tensor {
    return new Tensor(native().ops.where(cond.native, raw(a), raw(b)));
  }
}

/**
 * log softmax(logits)[target] per position — logits [.., V] fp32, targets [..] int64 — fused with its
 * backward (one pass over the vocabulary instead of log_softmax + gather + their grads).
 */
export function tokenLogprobs(logits: Tensor, targets: Tensor): Tensor {
  return new Tensor(native().ops.tokenLogprobs(logits.native, targets.native));
}

/**
 * The decoder block's fused pieces, as the model runs them (hand-written loops for fp32 on the CPU, CUDA
 * kernels where built, libtorch ops otherwise), each with its backward — for tests and benchmarks.
 * HF LlamaRMSNorm: weight * (x / sqrt(mean(x²) + eps)), the normalised value rounded to x's dtype first.
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return new Tensor(native().ops.rmsNorm(x.native, weight.native, eps));
}

/** silu(gate) * up over the fused gate|up projection [.., 2·inter] → [.., inter]. */
export function swiglu(gu: Tensor): Tensor {
  return new Tensor(native().ops.swiglu(gu.native));
}

/**
 * qkv [b, t, (heads + 2·kvHeads)·headDim] → q·qScale [b, heads, t, headDim], k, v [b, kvHeads, t, headDim],
 * with RoPE (HF apply_rotary_pos_emb) on q and k; cos/sin [1 or b, t, headDim] in qkv's dtype.
 */
export function qkvRope(qkv: Tensor, cos: Tensor, sin: Tensor, dims: { heads: number; kvHeads: number; headDim: number; qScale?: number }): [Tensor, Tensor, Tensor] {
  const [q, k, v] = native().ops.qkvRope(qkv.native, cos.native, sin.native, dims);
  return [new Tensor(q), new Tensor(k), new Tensor(v)];
}

/** Seeds libtorch's global generator (sampling, dropout, random init). */
export function manualSeed(seed: number): void {
  native().manualSeed(seed);
}
