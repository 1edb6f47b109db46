import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['services/**/*.test.ts', 'tests/**/*.test.ts'],
    // Real servers, child processes and file I/O: give them room, never assert on time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
