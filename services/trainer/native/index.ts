/**
 * The only loader of the libtorch addon (`build/Release/spark_torch.node`, built by
 * `scripts/build-native.sh`) and the declaration of what it exports. Everything else imports the typed
 * wrappers in `tensor.ts` and `services/trainer/model/`.
 *
 * Loading is lazy (the CLI and services import this file without needing libtorch) and sets the
 * process-wide facts DESIGN.md section 9 found: OpenMP and OpenBLAS threads sleep instead of spinning
 * (`OMP_WAIT_POLICY=passive`, `OPENBLAS_THREAD_TIMEOUT=4`, read by libgomp and OpenBLAS when the addon
 * loads, so they are set before), and an explicit libtorch thread count (libtorch would otherwise pick 1
 * here).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../common/paths.js';

export type DType =
  | 'float32' | 'bfloat16' | 'float16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type TypedArray =
  | Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | BigInt64Array;

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly numel: number;
  readonly disposed: boolean;
  readonly requiresGrad: boolean;
  readonly grad: NativeTensor | null;
  setRequiresGrad(requiresGrad: boolean): NativeTensor;
  /** A copy of the elements (bf16/fp16 as raw Uint16 bits, int64 as BigInt64Array). */
  data(): TypedArray;
  /** A copy of the raw little-endian bytes. */
  bytes(): Buffer;
  item(): number;
  dispose(): void;
  backward(gradient?: NativeTensor): Promise<void>;
}

type T = NativeTensor;
type TS = NativeTensor | number;
type Dims = number | number[] | undefined;

export interface NativeOps {
  neg(a: T): T; exp(a: T): T; log(a: T): T; sqrt(a: T): T; rsqrt(a: T): T; abs(a: T): T; sigmoid(a: T): T;
  tanh(a: T): T; silu(a: T): T; logicalNot(a: T): T; contiguous(a: T): T; detach(a: T): T; clone(a: T): T;
  sign(a: T): T;
  add(a: T, b: TS): T; sub(a: T, b: TS): T; mul(a: T, b: TS): T; div(a: T, b: TS): T; pow(a: T, b: TS): T;
  maximum(a: T, b: TS): T; minimum(a: T, b: TS): T;
  eq(a: T, b: TS): T; ne(a: T, b: TS): T; lt(a: T, b: TS): T; le(a: T, b: TS): T; gt(a: T, b: TS): T; ge(a: T, b: TS): T;
  logicalAnd(a: T, b: TS): T; logicalOr(a: T, b: TS): T;
  matmul(a: T, b: T): T;
  sum(a: T, dims?: Dims, keepdim?: boolean): T; mean(a: T, dims?: Dims, keepdim?: boolean): T;
  amax(a: T, dims?: Dims, keepdim?: boolean): T; amin(a: T, dims?: Dims, keepdim?: boolean): T;
  logsumexp(a: T, dims?: Dims, keepdim?: boolean): T;
  var(a: T, dims?: Dims, unbiased?: boolean, keepdim?: boolean): T;
  argmax(a: T, dim: number, keepdim?: boolean): T;
  softmax(a: T, dim: number): T; logSoftmax(a: T, dim: number): T; cumsum(a: T, dim: number): T;
  gather(a: T, dim: number, index: T): T; indexSelect(a: T, dim: number, index: T): T;
  clamp(a: T, min: number | null, max: number | null): T;
  where(cond: T, a: TS, b: TS): T;
  maskedFill(a: T, mask: T, value: number): T;
  reshape(a: T, shape: number[]): T; expand(a: T, shape: number[]): T; transpose(a: T, d0: number, d1: number): T;
  permute(a: T, dims: number[]): T; narrow(a: T, dim: number, start: number, length: number): T;
  squeeze(a: T, dim?: number): T; unsqueeze(a: T, dim: number): T;
  cat(ts: T[], dim?: number): T; stack(ts: T[], dim?: number): T;
  to(a: T, dtype: DType | null, device: string | null): T;
  copy_(a: T, src: T): void; uniform_(a: T, low: number, high: number): void; normal_(a: T, mean: number, std: number): void;
  zero_(a: T): void;
  equal(a: T, b: T): boolean;
  tokenLogprobs(logits: T, targets: T): T;
  rmsNorm(x: T, weight: T, eps: number): T;
  swiglu(gu: T): T;
  qkvRope(qkv: T, cos: T, sin: T, dims: { heads: number; kvHeads: number; headDim: number; qScale?: number }): [T, T, T];
  nf4Quantize(w: T, blockSize?: number, doubleQuant?: boolean): NativeNf4;
  nf4Dequantize(q: NativeNf4, shape: number[], dtype: DType): T;
}

export interface NativeNf4 {
  codes: T;
  absmax?: T;
  absmaxCodes?: T;
  absmaxScale?: T;
  absmaxOffset: number;
  blockSize: number;
}

export interface NativeFactories {
  fromData(data: TypedArray, shape: number[], dtype?: DType, device?: string): T;
  fromBytes(bytes: Uint8Array, shape: number[], dtype: DType, device?: string): T;
  readFile(path: string, offset: number, shape: number[], dtype: DType, device?: string): Promise<T>;
  zeros(shape: number[], dtype?: DType, device?: string): T;
  ones(shape: number[], dtype?: DType, device?: string): T;
  full(shape: number[], value: number, dtype?: DType, device?: string): T;
  arange(start: number, end: number, step?: number, dtype?: DType, device?: string): T;
  randn(shape: number[], dtype?: DType, device?: string): T;
  rand(shape: number[], dtype?: DType, device?: string): T;
  randint(low: number, high: number, shape: number[], device?: string): T;
}

/** The shape fields of a Llama config, as the native model reads them. */
export interface NativeLlamaConfig {
  hiddenSize: number; numLayers: number; numHeads: number; numKvHeads: number; headDim: number;
  intermediateSize: number; vocabSize: number; rmsNormEps: number; ropeTheta: number; tieWordEmbeddings: boolean;
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };
}

export interface NativeLayerWeights {
  inputNorm: T; postNorm: T; q: T; k: T; v: T; o: T; gate: T; up: T; down: T;
}

export interface NativeForwardOptions {
  attentionMask?: T;
  adapters?: boolean;
  training?: boolean;
  /** Only the last N positions get logits (0 = all). */
  logitsToKeep?: number;
  wantHidden?: boolean;
}

export interface NativeSampleOptions { temperature?: number; topK?: number; topP?: number }

export interface NativeKvCache { readonly length: number; readonly capacity: number; readonly nbytes: number; dispose(): void }

export interface NativeLlama {
  setGlobal(name: 'embed' | 'norm' | 'lm_head', t: T): void;
  setLayer(layer: number, w: NativeLayerWeights, quant?: { nf4?: boolean; blockSize?: number; doubleQuant?: boolean }): Promise<void>;
  setLora(layer: number, module: string, a: T, b: T): void;
  clearLora(): void;
  setLoraOptions(scale: number, dropout: number): void;
  /** Activation checkpointing per decoder block in forwards that record autograd (off by default). */
  setCheckpointing(on: boolean): void;
  forward(ids: T, options?: NativeForwardOptions): Promise<{ logits: T; hidden?: T }>;
  newCache(batch: number, capacity: number): NativeKvCache;
  step(cache: NativeKvCache, ids: T, options?: NativeForwardOptions & { sample?: NativeSampleOptions; wantLogits?: boolean }):
    Promise<{ tokens?: Int32Array; logprobs?: Float32Array; logits?: T }>;
  weight(name: string): T;
  /** Bytes held by the base weights (dense or NF4), LoRA excluded. */
  nbytes(): number;
  /** Frees the weights now. */
  dispose(): void;
}

export interface NativeAdamW {
  step(): Promise<void>;
  zeroGrad(): void;
  setLr(lr: number): void;
  state(): Array<{ step: number; expAvg: T; expAvgSq: T } | null>;
  loadState(state: Array<{ step: number; expAvg: T; expAvgSq: T } | null>): void;
}

export interface NativeInfo {
  torchVersion: string;
  build: 'cpu' | 'cuda';
  cudaAvailable: boolean;
  /** Built with the fused CUDA kernels (cuda/fused.cu: RMSNorm, RoPE, SwiGLU, NF4 dequantisation). */
  cudaKernels: boolean;
  devices: string[];
  threads: number;
  parallelInfo: string;
  buildConfig: string;
}

export interface NativeBinding {
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  info(): NativeInfo;
  /** Caps the freed CPU tensor memory kept for reuse (default: a quarter of RAM, at most 8 GiB; 0 = off). */
  setCpuCacheLimit(bytes: number): void;
  cpuCache(): { cachedBytes: number };
  /** Returns the cached CPU blocks to the OS (e.g. after a training job). */
  emptyCpuCache(): void;
  /** libtorch's CUDA caching allocator, in bytes (all zeros in a CPU build). */
  cudaMemory(device?: number): { allocated: number; reserved: number; peakAllocated: number; peakReserved: number };
  /** Restarts cudaMemory()'s peaks from the current values. */
  cudaResetPeak(device?: number): void;
  /** Waits for all queued GPU work (a no-op without CUDA). */
  cudaSynchronize(): void;
  /**
   * The fused CUDA kernels on (default; SPARK_CUDA_FUSED=0 starts with them off) or libtorch's ops — for
   * A/B benchmarks and parity checks in one process. No effect without CUDA kernels in the build.
   */
  setCudaFused(on: boolean): void;
  /** Whether CUDA tensors take the fused kernels now. */
  cudaFused(): boolean;
  /** Returns the CUDA caching allocator's unused blocks to the driver. */
  cudaEmptyCache(): void;
  factories: NativeFactories;
  ops: NativeOps;
  NativeLlama: new (config: NativeLlamaConfig, dtype: DType, device: string) => NativeLlama;
  NativeAdamW: new (params: T[], options: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }) => NativeAdamW;
  clipGradNorm(params: T[], maxNorm: number): number;
}

/** Where the build script puts the addon. */
export const ADDON_PATH = join(REPO_ROOT, 'services', 'trainer', 'native', 'build', 'Release', 'spark_torch.node');

/** Thrown when the addon is not built (or libtorch is missing); says how to build it. */
export class NativeUnavailableError extends Error {
  override readonly name = 'NativeUnavailableError';
}

let binding: NativeBinding | undefined;

/** The addon, loaded on first use with the thread count set to the machine's cores. */
export function loadNative(): NativeBinding {
  if (binding) return binding;
  if (!existsSync(ADDON_PATH)) {
    throw new NativeUnavailableError(
      `libtorch addon not built (${ADDON_PATH}); run scripts/build-native.sh (needs Debian libtorch-dev, or LIBTORCH_DIR)`,
    );
  }
  // libgomp reads this once, when libtorch loads it; passive waiting keeps idle OpenMP threads from
  // spinning against the event loop and OpenBLAS's own threads.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  // OpenBLAS's own worker threads spin (sched_yield) for 2^28 cycles after each GEMM by default; between
  // the small GEMMs of generation they took the cores from libtorch's threads. 2^4 cycles: batched decoding
  // of the tiny model ~1.8× faster, a LoRA training step ~15 % (2 cores, sys time a third of before).
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
  try {
    binding = createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
  } catch (err) {
    throw new NativeUnavailableError(`cannot load ${ADDON_PATH}: ${(err as Error).message}`, { cause: err });
  }
  binding.setNumThreads(availableParallelism());
  return binding;
}

/** Sets libtorch's intra-op thread count (every later call, on any thread, uses it). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be an integer >= 1, got ${n}`);
  loadNative().setNumThreads(n);
}
