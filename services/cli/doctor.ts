/**
 * `spark doctor`: what the libtorch engine runs on — libtorch version and build, devices, the BLAS
 * actually mapped into the process (the reference BLAS is ~10–55× slower than OpenBLAS, DESIGN.md
 * section 9), thread count — and, with `--model`, memory per parameter of a checkpoint dense, NF4 and
 * NF4 with double quantisation (`--load` measures it by loading the model).
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { ADDON_PATH, loadNative, setNumThreads } from '../trainer/native/index.js';
import { parameterCount, readLlamaConfig, type LlamaConfig } from '../trainer/model/config.js';
import { COMPUTE_DTYPES, LlamaModel, QUANTIZATIONS, type ComputeDtype, type Quantization } from '../trainer/model/llama.js';
import { devicePeak } from '../trainer/training/mfu.js';
import { formatChecks, judgeCheck, localChecks } from './setup-checks.js';
import { wholeNumber } from './options.js';

/** The BLAS libraries mapped into this process, named by what they are. */
export function mappedBlas(): string[] {
  if (!existsSync('/proc/self/maps')) return [];
  const paths = new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((p) => /blas|mkl/i.test(p)));
  return [...paths].map((p) => {
    const kind = /openblas-pthread/.test(p) ? 'OpenBLAS (pthreads)'
      : /openblas-openmp/.test(p) ? 'OpenBLAS (OpenMP)'
      : /openblas/.test(p) ? 'OpenBLAS'
      : /mkl/i.test(p) ? 'Intel MKL'
      : /\/blas\/libblas/.test(p) ? 'reference BLAS — slow: apt-get install libopenblas0-pthread'
      : 'BLAS';
    return `${kind}: ${p}`;
  });
}

/** Bytes per parameter of the base model: embeddings/norms dense, linear weights dense or NF4. */
export function memoryPerParameter(c: LlamaConfig, denseBytes: number, quant: 'none' | 'nf4' | 'nf4-dq', blockSize = 64): number {
  const total = parameterCount(c);
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const linear = c.numLayers * (c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize);
  const perLinear = quant === 'none' ? denseBytes
    : quant === 'nf4' ? 0.5 + 4 / blockSize
    : 0.5 + 1 / blockSize + 4 / (blockSize * 256);
  return ((total - linear) * denseBytes + linear * perLinear) / total;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the setup: libtorch, devices, BLAS, threads, data, tools, disk, judge endpoint; --model: memory per parameter')
    .option('--model <dir>', 'checkpoint folder: print memory per parameter (dense, NF4, NF4 + double quantisation)')
    .option('--load', 'with --model: load it and measure (uses --device, --dtype, --quant)')
    .option('--device <device>', 'cpu, cuda or cuda:N', 'cpu')
    .addOption(new Option('--dtype <dtype>', 'compute dtype for --load (default float32 on cpu, bfloat16 on cuda)').choices([...COMPUTE_DTYPES]))
    .addOption(new Option('--quant <kind>', 'base weights for --load').choices([...QUANTIZATIONS]).default('none'))
    .option('--double-quant', 'with --quant nf4: quantise the absmax values too')
    .option('--threads <n>', 'libtorch threads (default: all cores)', wholeNumber('--threads', 1))
    .action(async (flags: { model?: string; load?: boolean; device: string; dtype?: ComputeDtype; quant: Quantization; doubleQuant?: boolean; threads?: number }) => {
      const out: string[] = [];
      const n = loadNative();
      if (flags.threads) setNumThreads(flags.threads);
      const info = n.info();
      out.push(`addon      ${ADDON_PATH}`);
      out.push(`libtorch   ${info.torchVersion} (${info.build} build), CUDA ${info.cudaAvailable ? 'available' : 'not available'}`);
      if (info.build === 'cuda') {
        out.push(`kernels    fused CUDA kernels ${info.cudaKernels ? (n.cudaFused() ? 'on' : 'built, off (SPARK_CUDA_FUSED=0)') : 'not built (no nvcc when the addon was built): libtorch ops'}`);
      }
      out.push(`devices    ${info.devices.join('; ')}`);
      const blas = mappedBlas();
      out.push(`blas       ${blas.length ? blas.join('\n           ') : 'none mapped (libtorch links BLAS lazily or statically)'}`);
      out.push(`threads    ${n.getNumThreads()} intra-op, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? '(unset)'}`);
      const device = flags.device === 'cuda' ? 'cuda:0' : flags.device;
      const peak = devicePeak(device, { threads: n.getNumThreads(), description: info.devices.find((d) => d.startsWith(device)) });
      out.push(`peak       ${peak.flops > 0 ? `${(peak.flops / 1e12).toFixed(2)} TFLOP/s` : 'unknown'} for MFU (${peak.source}; SPARK_TRAINER_PEAK_TFLOPS overrides)`);
      out.push(`malloc     mmap threshold ${process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072 (set by the addon)'} bytes`);
      if (flags.model) {
        const c = readLlamaConfig(flags.model);
        const params = parameterCount(c);
        out.push(`model      ${flags.model}: ${(params / 1e6).toFixed(1)} M parameters`);
        for (const [label, bytes, quant] of [['bf16', 2, 'none'], ['fp32', 4, 'none'], ['nf4', 2, 'nf4'], ['nf4+dq', 2, 'nf4-dq']] as const) {
          const bpp = memoryPerParameter(c, bytes, quant);
          out.push(`  ${label.padEnd(8)} ${bpp.toFixed(3)} bytes/parameter = ${gib(bpp * params)}${quant === 'none' ? '' : ' (embeddings and norms bf16)'}`);
        }
        if (flags.load) {
          const model = await LlamaModel.load(flags.model, { device: flags.device, dtype: flags.dtype, quantization: flags.quant, doubleQuant: flags.doubleQuant });
          out.push(`  loaded   ${model.device} ${model.dtype}, ${flags.quant}${flags.doubleQuant ? ' + double quant' : ''}: ${(model.nbytes / params).toFixed(3)} bytes/parameter = ${gib(model.nbytes)} measured`);
          model.dispose();
        }
      }
      const checks = [...localChecks(process.env), await judgeCheck(process.env)];
      out.push(...formatChecks(checks));
      process.stdout.write(out.join('\n') + '\n');
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });
}
