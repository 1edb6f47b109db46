/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors, "Format"): an 8-byte
 * little-endian header length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__}`
 * (offsets relative to the end of the header), then the raw little-endian tensor bytes. Checkpoints may
 * be sharded, with `model.safetensors.index.json` mapping each tensor name to its shard file.
 *
 * Reading parses headers in TypeScript and leaves the bytes to `Tensor.readFile`, which reads them straight
 * into tensor memory off the JS thread (no multi-GB JS buffers). Writing is streamed tensor by tensor and
 * atomic (temp file, fsync, rename).
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/files.js';
import type { DType } from '../native/index.js';
import { Tensor } from '../native/tensor.js';

/** safetensors dtype codes ↔ libtorch dtypes. */
const DTYPES: Record<string, DType> = {
  F32: 'float32', BF16: 'bfloat16', F16: 'float16', F64: 'float64', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U8: 'uint8', BOOL: 'bool',
};
const CODES = Object.fromEntries(Object.entries(DTYPES).map(([code, dtype]) => [dtype, code])) as Record<DType, string>;
const ELEMENT_BYTES: Record<DType, number> = {
  float32: 4, bfloat16: 2, float16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** Headers above this are refused (the format's own limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** Where one tensor's bytes are. */
export interface TensorEntry {
  name: string;
  file: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset in `file`. */
  offset: number;
  nbytes: number;
}

export function elementBytes(dtype: DType): number {
  return ELEMENT_BYTES[dtype];
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Parses one .safetensors file's header. */
export function readSafetensorsHeader(file: string): { entries: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) throw new InvalidArgumentError(file, 'too short to be a safetensors file');
    const headerLen = Number(head.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new InvalidArgumentError(file, `header length ${headerLen} does not fit the file (${size} bytes)`);
    }
    const json = Buffer.alloc(headerLen);
    readSync(fd, json, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new InvalidArgumentError(file, `header is not valid JSON (${(err as Error).message})`, undefined, { cause: err });
    }
    const dataStart = 8 + headerLen;
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      const dtype = DTYPES[v.dtype ?? ''];
      if (!dtype) throw new InvalidArgumentError(`${file}: ${name}.dtype`, `unsupported dtype ${JSON.stringify(v.dtype)}`, Object.keys(DTYPES).join(', '));
      const shape = v.shape ?? [];
      const [begin, end] = v.data_offsets ?? [0, -1];
      const nbytes = numel(shape) * ELEMENT_BYTES[dtype];
      if (end - begin !== nbytes || dataStart + end > size) {
        throw new InvalidArgumentError(`${file}: ${name}.data_offsets`, `[${begin}, ${end}] does not hold ${shape.join('×')} ${v.dtype} inside the file`);
      }
      entries.set(name, { name, file, dtype, shape, offset: dataStart + begin, nbytes });
    }
    return { entries, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * Every tensor of a checkpoint folder: from `model.safetensors.index.json` when present (sharded), else
 * `model.safetensors`, else every `*.safetensors` in the folder.
 */
export function openCheckpoint(dir: string): Map<string, TensorEntry> {
  const index = join(dir, INDEX_FILE);
  let files: string[];
  if (existsSync(index)) {
    const parsed = JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> };
    if (!parsed.weight_map) throw new InvalidArgumentError(`${index}: weight_map`, 'missing');
    files = [...new Set(Object.values(parsed.weight_map))].map((f) => join(dir, f));
  } else if (existsSync(join(dir, SINGLE_FILE))) {
    files = [join(dir, SINGLE_FILE)];
  } else {
    files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => join(dir, f)) : [];
  }
  if (files.length === 0) throw new NotFoundError('safetensors weights in', dir);
  const all = new Map<string, TensorEntry>();
  for (const f of files) {
    if (!existsSync(f)) throw new NotFoundError('weight shard', f);
    for (const [name, e] of readSafetensorsHeader(f).entries) all.set(name, e);
  }
  return all;
}

/** Loads one tensor (in its stored dtype) onto `device`. */
export function loadTensor(entry: TensorEntry, device?: string): Promise<Tensor> {
  return Tensor.readFile(entry.file, entry.offset, entry.shape, entry.dtype, device);
}

/** Loads every tensor of one file (small files: adapters). */
export async function readSafetensors(file: string, device?: string): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  for (const [name, e] of readSafetensorsHeader(file).entries) out.set(name, await loadTensor(e, device));
  return out;
}

/** A tensor to write; `bytes` is called once, when its turn comes (so large checkpoints stream). */
export interface TensorSource {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: () => Uint8Array | Promise<Uint8Array>;
}

/** A source from an in-memory tensor. */
export function tensorSource(name: string, t: Tensor): TensorSource {
  return { name, dtype: t.dtype, shape: t.shape, bytes: () => t.bytes() };
}

function headerBytes(tensors: readonly TensorSource[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let at = 0;
  for (const t of tensors) {
    const n = numel(t.shape) * ELEMENT_BYTES[t.dtype];
    header[t.name] = { dtype: CODES[t.dtype], shape: t.shape, data_offsets: [at, at + n] };
    at += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);  // keeps tensor data 8-byte aligned
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + body.length);
  out.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(out, 8);
  return out;
}

/** Writes one .safetensors file atomically, in the given tensor order. */
export async function writeSafetensors(file: string, tensors: readonly TensorSource[], metadata: Record<string, string> = {}): Promise<void> {
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new InvalidArgumentError('tensors', `duplicate tensor name ${JSON.stringify(t.name)}`);
    names.add(t.name);
  }
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, headerBytes(tensors, metadata));
    for (const t of tensors) {
      const bytes = await t.bytes();
      const want = numel(t.shape) * ELEMENT_BYTES[t.dtype];
      if (bytes.byteLength !== want) throw new InvalidArgumentError(`tensors.${t.name}`, `has ${bytes.byteLength} bytes, its shape and dtype need ${want}`);
      writeSync(fd, bytes);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

/**
 * Writes a checkpoint's weights: `model.safetensors` when they fit in `maxShardBytes`, else
 * `model-0000i-of-0000N.safetensors` shards plus `model.safetensors.index.json` (HF layout).
 */
export async function writeCheckpointWeights(dir: string, tensors: readonly TensorSource[], maxShardBytes = 5_000_000_000): Promise<string[]> {
  const sizeOf = (t: TensorSource) => numel(t.shape) * ELEMENT_BYTES[t.dtype];
  const total = tensors.reduce((a, t) => a + sizeOf(t), 0);
  const metadata = { format: 'pt' };
  if (total <= maxShardBytes) {
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, metadata);
    return [SINGLE_FILE];
  }
  const shards: TensorSource[][] = [[]];
  let used = 0;
  for (const t of tensors) {
    if (used > 0 && used + sizeOf(t) > maxShardBytes) {
      shards.push([]);
      used = 0;
    }
    shards.at(-1)!.push(t);
    used += sizeOf(t);
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const names = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    await writeSafetensors(join(dir, names[i]!), shard, metadata);
    for (const t of shard) weightMap[t.name] = names[i]!;
  }
  writeFileAtomic(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  return [...names, INDEX_FILE];
}
