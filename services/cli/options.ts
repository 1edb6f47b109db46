/**
 * Flag parsers shared by the CLI commands: each rejects a bad value with a message naming the flag and
 * what is allowed, which commander prints before exiting non-zero.
 */
import { InvalidArgumentError as CommanderArgError } from 'commander';

/** A whole number in [min, max]. */
export const wholeNumber = (flag: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max < Number.MAX_SAFE_INTEGER ? `${min}..${max}` : min > Number.MIN_SAFE_INTEGER ? `>= ${min}` : 'any';
    throw new CommanderArgError(`${flag} must be a whole number (allowed: ${range}; got ${JSON.stringify(value)})`);
  }
  return n;
};

/** A number in [min, max]. */
export const decimal = (flag: string, min: number, max: number) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new CommanderArgError(`${flag} must be a number (allowed: ${min}..${max}; got ${JSON.stringify(value)})`);
  }
  return n;
};

/** A comma-separated list ("a,b"), empty items dropped; each item checked by `item` when given. */
export const csvList = <T = string>(item?: (value: string) => T) => (value: string): T[] =>
  value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (item ? item(s) : (s as unknown as T)));

/** A `host:port` address. */
export const address = (flag: string) => (value: string): string => {
  if (!/^[\w.-]+:\d{1,5}$|^\[[0-9a-f:]+\]:\d{1,5}$/i.test(value)) throw new CommanderArgError(`${flag} must be host:port (got ${JSON.stringify(value)})`);
  return value;
};
