/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101) — libtorch's
 * torch::optim::AdamW, the same update as PyTorch's — and global gradient-norm clipping.
 */
import type { NativeAdamW } from './index.js';
import { Tensor, native } from './tensor.js';

export interface AdamWOptions {
  /** Learning rate. */
  lr: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** Decoupled weight decay. @default 0.01 (PyTorch's AdamW default) */
  weightDecay?: number;
}

/** Per-parameter optimiser state, for checkpoints (tensors are new handles; dispose them after saving). */
export type AdamWState = Array<{ step: number; expAvg: Tensor; expAvgSq: Tensor } | null>;

export class AdamW {
  readonly #opt: NativeAdamW;

  constructor(readonly params: readonly Tensor[], options: AdamWOptions) {
    this.#opt = new (native().NativeAdamW)(params.map((p) => p.native), options);
  }

  /** One update from the accumulated gradients (off the JS thread). */
  step(): Promise<void> {
    return this.#opt.step();
  }

  /** Drops the gradients (set to none), so the next backward starts from zero. */
  zeroGrad(): void {
    this.#opt.zeroGrad();
  }

  setLr(lr: number): void {
    this.#opt.setLr(lr);
  }

  state(): AdamWState {
    return this.#opt.state().map((s) => s && { step: s.step, expAvg: new Tensor(s.expAvg), expAvgSq: new Tensor(s.expAvgSq) });
  }

  loadState(state: AdamWState): void {
    this.#opt.loadState(state.map((s) => s && { step: s.step, expAvg: s.expAvg.native, expAvgSq: s.expAvgSq.native }));
  }
}

/** Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return native().clipGradNorm(params.map((p) => p.native), maxNorm);
}
