/**
 * The environment both sides of a CPU benchmark run with (DESIGN §9), so a ratio compares like with like:
 * sleeping OpenMP and OpenBLAS threads — what the addon loader sets for the TypeScript side anyway
 * (services/trainer/native/index.ts), given to the PyTorch side too — and a flat RSS (glibc returns
 * blocks over 128 KiB at once instead of caching them).
 */
export const BENCH_ENV = { OMP_WAIT_POLICY: 'passive', OPENBLAS_THREAD_TIMEOUT: '4', MALLOC_MMAP_THRESHOLD_: '131072' } as const;
