/**
 * Runs tests/helpers/torch_reference.py (a straightforward PyTorch Llama on Debian's python3-torch) and
 * reads its outputs back. The interpreter is Debian's /usr/bin/python3 (the one python3-torch installs
 * into), or SPARK_TORCH_PYTHON.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../services/trainer/model/safetensors.js';
import type { Tensor } from '../../services/trainer/native/tensor.js';

export const TORCH_PYTHON = process.env.SPARK_TORCH_PYTHON ?? '/usr/bin/python3';
export const REFERENCE_SCRIPT = join(import.meta.dirname, 'torch_reference.py');

export interface ReferenceRequest {
  model: string;
  ids: number[][];
  attention_mask?: number[][];
  lora?: string;
  adapters?: boolean;
}

/** Logits [batch, seq, vocab] of the PyTorch reference. */
export async function referenceLogits(req: ReferenceRequest): Promise<Tensor> {
  const dir = mkdtempSync(join(tmpdir(), 'spark-ref-'));
  const out = join(dir, 'out.safetensors');
  const reqFile = join(dir, 'req.json');
  writeFileSync(reqFile, JSON.stringify({ cmd: 'forward', threads: 2, ...req, out }));
  execFileSync(TORCH_PYTHON, [REFERENCE_SCRIPT, reqFile], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
  const tensors = await readSafetensors(out);
  return tensors.get('logits')!;
}
