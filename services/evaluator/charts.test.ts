import { describe, expect, it } from 'vitest';
import { ACTION_NAMES } from '../common/actions.js';
import { ACTION_COLORS } from './charts.js';

describe('action colours', () => {
  it('give every built-in action and invalid_tool_call a colour of its own', () => {
    const shown = ACTION_NAMES.length + 1; // + invalid_tool_call
    expect(new Set(ACTION_COLORS.slice(0, shown)).size).toBe(shown);
  });
});
