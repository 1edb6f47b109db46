import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../native/tensor.js';
import { INDEX_FILE, loadTensor, openCheckpoint, readSafetensors, readSafetensorsHeader, tensorSource, writeCheckpointWeights, writeSafetensors } from './safetensors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'spark-st-'));

describe('safetensors', () => {
  it('writes the documented layout and reads every dtype back bit for bit', async () => {
    const file = join(tmp(), 'x.safetensors');
    await tidy(async () => {
      const f32 = Tensor.randn([3, 5]);
      const bf16 = Tensor.randn([7]).to('bfloat16');
      const ids = Tensor.ids([1, -2, 3_000_000_000], [3]);
      await writeSafetensors(file, [tensorSource('a.f32', f32), tensorSource('b.bf16', bf16), tensorSource('c.i64', ids)], { format: 'pt' });
      const raw = readFileSync(file);
      const headerLen = Number(raw.readBigUInt64LE(0));
      expect(headerLen % 8).toBe(0);
      const header = JSON.parse(raw.subarray(8, 8 + headerLen).toString());
      expect(header.__metadata__).toEqual({ format: 'pt' });
      expect(header['a.f32']).toEqual({ dtype: 'F32', shape: [3, 5], data_offsets: [0, 60] });
      expect(header['b.bf16']).toEqual({ dtype: 'BF16', shape: [7], data_offsets: [60, 74] });
      expect(header['c.i64']).toEqual({ dtype: 'I64', shape: [3], data_offsets: [74, 98] });
      expect(raw.length).toBe(8 + headerLen + 98);
      const back = await readSafetensors(file);
      expect(back.get('a.f32')!.equal(f32)).toBe(true);
      expect(back.get('b.bf16')!.equal(bf16)).toBe(true);
      expect(back.get('c.i64')!.toArray()).toEqual([1, -2, 3_000_000_000]);
    });
  });

  it('shards a checkpoint with an index and reads it back through the index', async () => {
    const dir = tmp();
    await tidy(async () => {
      const ts = Array.from({ length: 5 }, (_, i) => Tensor.full([100], i));
      const files = await writeCheckpointWeights(dir, ts.map((t, i) => tensorSource(`w${i}`, t)), 900);
      expect(files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', INDEX_FILE]);
      const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8'));
      expect(index.metadata.total_size).toBe(2000);
      expect(index.weight_map.w4).toBe('model-00003-of-00003.safetensors');
      const entries = openCheckpoint(dir);
      expect([...entries.keys()].sort()).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
      expect((await loadTensor(entries.get('w3')!)).toArray()).toEqual(Array(100).fill(3));
      expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);  // no temp files left
    });
  });

  it('rejects truncated files, bad dtypes and duplicate names, naming the file and field', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.safetensors');
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(bad, Buffer.concat([len, header, Buffer.alloc(8)]));
    expect(() => readSafetensorsHeader(bad)).toThrow(/bad\.safetensors: w\.data_offsets/);
    const odd = Buffer.from(JSON.stringify({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }));
    len.writeBigUInt64LE(BigInt(odd.length));
    writeFileSync(bad, Buffer.concat([len, odd, Buffer.alloc(1)]));
    expect(() => readSafetensorsHeader(bad)).toThrow(/w\.dtype: unsupported dtype "F8_E4M3"/);
    const t = Tensor.zeros([1]);
    await expect(writeSafetensors(join(dir, 'dup.safetensors'), [tensorSource('x', t), tensorSource('x', t)])).rejects.toThrow(/duplicate tensor name "x"/);
    expect(() => openCheckpoint(join(dir, 'missing'))).toThrow(/not found/);
    t.dispose();
  });
});
