import { describe, expect, it } from 'vitest';
import { formatStepLine, parseStepLine } from './step-log.js';

describe('step lines', () => {
  it('round-trip and ignore other log lines', () => {
    const line = formatStepLine({ step: 3, totalSteps: 10, metrics: { 'actor/loss': 0.5, 'train/step': 3 } });
    expect(parseStepLine(line)).toEqual({ step: 3, totalSteps: 10, metrics: { 'actor/loss': 0.5, 'train/step': 3 } });
    expect(parseStepLine('saved /x/checkpoint-3')).toBeUndefined();
    expect(parseStepLine('{"progress":"train","done":3}')).toBeUndefined();
    expect(parseStepLine('{not json')).toBeUndefined();
  });
});
