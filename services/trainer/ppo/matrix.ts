/**
 * The one tensor shape the PPO reference functions use: a row-major `[batch, respLen]` matrix of float32
 * (one row per step example, one column per action token). Plain TypeScript on Float32Array, so the
 * functions in this folder are a readable reference the fused native op is compared against.
 */

/** A row-major `[batch, respLen]` matrix; `data.length === batch * respLen`. */
export interface BatchMatrix {
  readonly batch: number;
  readonly respLen: number;
  readonly data: Float32Array;
}

/** A `[batch, respLen]` matrix filled with `fill` (default 0). */
export function zeros(batch: number, respLen: number, fill = 0): BatchMatrix {
  if (!Number.isInteger(batch) || batch < 0) throw new RangeError(`batch must be an integer >= 0 (got ${batch})`);
  if (!Number.isInteger(respLen) || respLen < 0) throw new RangeError(`respLen must be an integer >= 0 (got ${respLen})`);
  return { batch, respLen, data: new Float32Array(batch * respLen).fill(fill) };
}

/** A matrix from nested rows (tests, small inputs); all rows must have the same length. */
export function fromRows(rows: readonly (readonly number[])[]): BatchMatrix {
  const respLen = rows[0]?.length ?? 0;
  rows.forEach((row, i) => {
    if (row.length !== respLen) throw new RangeError(`row ${i} has ${row.length} columns, row 0 has ${respLen}`);
  });
  return { batch: rows.length, respLen, data: Float32Array.from(rows.flat()) };
}

/** The rows as nested arrays (tests, logs). */
export function toRows(m: BatchMatrix): number[][] {
  return Array.from({ length: m.batch }, (_, b) => Array.from(m.data.subarray(b * m.respLen, (b + 1) * m.respLen)));
}

/** A matrix of `first`'s shape with `out.data[i] = fn(i)` (callers check shapes with `sameShape`). */
export function mapMatrix(first: BatchMatrix, fn: (i: number) => number): BatchMatrix {
  const out = zeros(first.batch, first.respLen);
  for (let i = 0; i < out.data.length; i++) out.data[i] = fn(i);
  return out;
}

/** Throws a RangeError naming the argument whose shape differs from `responseMask`'s. */
export function sameShape(args: Readonly<Record<string, BatchMatrix>>): void {
  const entries = Object.entries(args);
  const [refName, ref] = entries[0]!;
  for (const [name, m] of entries) {
    if (m.data.length !== m.batch * m.respLen) {
      throw new RangeError(`${name}: data has ${m.data.length} values, expected batch*respLen = ${m.batch * m.respLen}`);
    }
    if (m.batch !== ref.batch || m.respLen !== ref.respLen) {
      throw new RangeError(`${name} is [${m.batch}, ${m.respLen}] but ${refName} is [${ref.batch}, ${ref.respLen}]`);
    }
  }
}

/**
 * One value per row (a sequence-level quantity such as a step's reward), broadcast over the row's valid
 * tokens: `out[b, t] = values[b] * responseMask[b, t]`.
 */
export function broadcastRows(values: Float32Array, responseMask: BatchMatrix): BatchMatrix {
  if (values.length !== responseMask.batch) {
    throw new RangeError(`values has ${values.length} entries but responseMask has ${responseMask.batch} rows`);
  }
  return mapMatrix(responseMask, (i) => {
    const m = responseMask.data[i]!;
    return m === 0 ? 0 : values[Math.floor(i / responseMask.respLen)]! * m;
  });
}
