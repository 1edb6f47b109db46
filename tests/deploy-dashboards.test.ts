/**
 * The Grafana dashboards in deploy/grafana (= charts/spark/files/grafana): loadable JSON with the
 * panels the issue lists, every query on the Prometheus datasource variable, panels laid out on
 * Grafana's 24-column grid without overlaps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../services/common/paths.js';

const DIR = join(REPO_ROOT, 'deploy/grafana');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string; refId: string }>; [k: string]: any };
const dashboards = Object.fromEntries(readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => [f, JSON.parse(readFileSync(join(DIR, f), 'utf8'))]));
const panels = (file: string): Panel[] => dashboards[file].panels;
const titles = (file: string) => panels(file).map((p) => p.title.toLowerCase()).join(' | ');

describe('Grafana dashboards', () => {
  it('are the three SPaRK dashboards with stable uids and the datasource variable', () => {
    expect(Object.keys(dashboards).sort()).toEqual(['spark-evaluation.json', 'spark-rollouts.json', 'spark-training.json']);
    for (const [file, d] of Object.entries(dashboards)) {
      expect(d.uid).toBe(file.replace('.json', ''));
      expect(d.tags).toContain('spark');
      expect(d.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    }
  });

  it('query only through ${datasource}, with unique panel ids and refIds', () => {
    for (const file of Object.keys(dashboards)) {
      const ids = panels(file).map((p) => p.id);
      expect(new Set(ids).size, file).toBe(ids.length);
      for (const p of panels(file).filter((x) => x.type !== 'row')) {
        expect(p.datasource?.uid, `${file} ${p.title}`).toBe('${datasource}');
        expect(p.targets?.length, `${file} ${p.title}`).toBeGreaterThan(0);
        const refIds = p.targets!.map((t) => t.refId);
        expect(new Set(refIds).size).toBe(refIds.length);
        for (const t of p.targets!) expect(t.expr.trim().length).toBeGreaterThan(0);
      }
    }
  });

  it('lay panels out on the 24-column grid without overlaps', () => {
    for (const file of Object.keys(dashboards)) {
      const boxes = panels(file).map((p) => p.gridPos);
      for (const b of boxes) expect(b.x + b.w).toBeLessThanOrEqual(24);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `${file}: ${panels(file)[i].title} / ${panels(file)[j].title}`).toBe(false);
        }
      }
    }
  });

  it('show what the issue lists for training, rollouts and evaluation', () => {
    const training = titles('spark-training.json');
    for (const t of ['loss', 'reward', 'kl', 'clip fraction', 'entropy', 'tokens per second', 'mfu', 'gpu utilisation']) expect(training).toContain(t);
    expect(JSON.stringify(dashboards['spark-training.json'])).toContain('DCGM_FI_DEV_GPU_UTIL');
    const rollouts = titles('spark-rollouts.json');
    for (const t of ['tool calls', 'tool usage', 'tool-selection entropy', 'judge latency', 'judge error', 'judge cost', 'trajectories per minute']) expect(rollouts).toContain(t);
    const evaluation = titles('spark-evaluation.json');
    expect(evaluation).toContain('accuracy per category and model');
    expect(evaluation).toContain('tool-selection entropy per model');
    expect(dashboards['spark-evaluation.json'].templating.list.map((v: { name: string }) => v.name)).toContain('model');
  });
});
