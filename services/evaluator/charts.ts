/**
 * The report's charts as inline SVG strings (no scripts, no external fonts), so the HTML file is whole
 * on its own: grouped bars (accuracy per category, one bar per model), 100 % stacked bars (how each
 * model spreads its steps over the actions), and bars with error whiskers (entropy with its interval).
 * Every bar is a <rect> carrying data-* attributes naming what it shows, which is how tests count them.
 */

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
/**
 * Action colours: the eight above, grey for cot, and two more (Tol's wine and teal) so the 8 built-in
 * tools, cot and invalid_tool_call all differ; further (MCP) actions reuse them.
 */
export const ACTION_COLORS = [...SERIES_COLORS, '#999999', '#882255', '#44AA99'];

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (x: number) => (Math.round(x * 100) / 100).toString();

function legend(names: readonly string[], colors: readonly string[], x: number, y: number): string {
  return names.map((name, i) => {
    const lx = x + i * 130;
    return `<rect class="legend" x="${lx}" y="${y}" width="12" height="12" fill="${colors[i % colors.length]}"/><text x="${lx + 16}" y="${y + 10}" font-size="12" ${FONT}>${escapeXml(name)}</text>`;
  }).join('');
}

export interface GroupedBarsInput {
  title: string;
  /** Groups along the x axis (categories). */
  groups: readonly string[];
  /** One bar per series in each group (models). */
  series: readonly string[];
  /** value(series, group) in [0, max]; undefined draws no bar. */
  value: (series: string, group: string) => number | undefined;
  max?: number;
  /** data-kind of the bars. */
  kind: string;
  /** Axis label. */
  yLabel: string;
}

/** Vertical grouped bars with a 0..max axis and gridlines at quarters. */
export function groupedBars(input: GroupedBarsInput): string {
  const max = input.max ?? 1;
  const barW = 14;
  const groupW = Math.max(60, input.series.length * barW + 16);
  const left = 56;
  const top = 48;
  const plotH = 220;
  const width = left + input.groups.length * groupW + 20;
  const height = top + plotH + 90;
  const y = (v: number) => top + plotH - (Math.min(v, max) / max) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const gy = y(t * max);
    return `<line x1="${left}" y1="${gy}" x2="${width - 20}" y2="${gy}" stroke="#ddd"/><text x="${left - 6}" y="${gy + 4}" font-size="11" text-anchor="end" ${FONT}>${fmt(t * max)}</text>`;
  }).join('');
  const bars = input.groups.map((group, gi) => {
    const gx = left + gi * groupW + (groupW - input.series.length * barW) / 2;
    const rects = input.series.map((s, si) => {
      const v = input.value(s, group);
      if (v === undefined) return '';
      // A zero gets a hairline, so "0 %" is told apart from "no answers in this category".
      const h = Math.max(top + plotH - y(v), v === 0 ? 1.5 : 0);
      return `<rect class="bar" data-kind="${input.kind}" data-series="${escapeXml(s)}" data-group="${escapeXml(group)}" data-value="${v}" x="${gx + si * barW}" y="${top + plotH - h}" width="${barW - 2}" height="${h}" fill="${SERIES_COLORS[si % SERIES_COLORS.length]}"><title>${escapeXml(`${s} · ${group}: ${v.toFixed(3)}`)}</title></rect>`;
    }).join('');
    const lx = left + gi * groupW + groupW / 2;
    return `${rects}<text x="${lx}" y="${top + plotH + 14}" font-size="11" text-anchor="end" transform="rotate(-35 ${lx} ${top + plotH + 14})" ${FONT}>${escapeXml(group)}</text>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-kind="${input.kind}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(input.title)}">`
    + `<text x="${left}" y="20" font-size="15" font-weight="600" ${FONT}>${escapeXml(input.title)}</text>`
    + legend(input.series, SERIES_COLORS, left, 28)
    + grid
    + `<text x="14" y="${top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle" ${FONT}>${escapeXml(input.yLabel)}</text>`
    + bars
    + `<line x1="${left}" y1="${top + plotH}" x2="${width - 20}" y2="${top + plotH}" stroke="#333"/></svg>`;
}

export interface StackedBarsInput {
  title: string;
  /** One horizontal bar per row (models). */
  rows: readonly string[];
  /** Segments in order (actions). */
  segments: readonly string[];
  /** count(row, segment) >= 0; each row is drawn as shares of its total. */
  count: (row: string, segment: string) => number;
  kind: string;
}

/** Legend entries per row above stacked bars (140 px each: room for "equation_solver"). */
const LEGEND_PER_ROW = 4;

/** Horizontal 100 % stacked bars: each row's total split into its segments' shares. */
export function stackedBars(input: StackedBarsInput): string {
  const left = 110;
  const top = 26 + Math.ceil(input.segments.length / LEGEND_PER_ROW) * 16 + 12;
  const barH = 26;
  const plotW = 560;
  const width = left + plotW + 30;
  const height = top + input.rows.length * (barH + 14) + 20;
  const rows = input.rows.map((row, ri) => {
    const total = input.segments.reduce((s, seg) => s + input.count(row, seg), 0);
    const ry = top + ri * (barH + 14);
    let x = left;
    const segs = input.segments.map((seg, si) => {
      const c = input.count(row, seg);
      if (!total || !c) return '';
      const w = (c / total) * plotW;
      const rect = `<rect class="bar" data-kind="${input.kind}" data-series="${escapeXml(row)}" data-group="${escapeXml(seg)}" data-value="${c / total}" x="${x}" y="${ry}" width="${w}" height="${barH}" fill="${ACTION_COLORS[si % ACTION_COLORS.length]}"><title>${escapeXml(`${row} · ${seg}: ${c} steps (${((100 * c) / total).toFixed(1)} %)`)}</title></rect>`;
      x += w;
      return rect;
    }).join('');
    const empty = total ? '' : `<text x="${left + 6}" y="${ry + 17}" font-size="12" fill="#777" ${FONT}>no steps</text>`;
    return `<text x="${left - 8}" y="${ry + 17}" font-size="12" text-anchor="end" ${FONT}>${escapeXml(row)}</text>${segs}${empty}`;
  }).join('');
  const legendRows = input.segments.map((seg, i) => {
    const lx = left + (i % LEGEND_PER_ROW) * (plotW / LEGEND_PER_ROW);
    const ly = 26 + Math.floor(i / LEGEND_PER_ROW) * 16;
    return `<rect class="legend" x="${lx}" y="${ly}" width="12" height="12" fill="${ACTION_COLORS[i % ACTION_COLORS.length]}"/><text x="${lx + 16}" y="${ly + 10}" font-size="12" ${FONT}>${escapeXml(seg)}</text>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-kind="${input.kind}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(input.title)}">`
    + `<text x="10" y="18" font-size="15" font-weight="600" ${FONT}>${escapeXml(input.title)}</text>${legendRows}${rows}</svg>`;
}

export interface IntervalBarsInput {
  title: string;
  /** One bar per item (models). */
  items: ReadonlyArray<{ name: string; value: number; low: number; high: number }>;
  max: number;
  /** A dashed reference line (the maximum entropy, log2 9). */
  reference?: { value: number; label: string };
  kind: string;
  yLabel: string;
}

/** Vertical bars with interval whiskers. */
export function intervalBars(input: IntervalBarsInput): string {
  const left = 56;
  const top = 40;
  const plotH = 200;
  const slot = 90;
  // Wide enough for the title and the reference line's label whatever the number of bars.
  const width = Math.max(520, left + Math.max(1, input.items.length) * slot + 140);
  const height = top + plotH + 40;
  const y = (v: number) => top + plotH - (Math.max(0, Math.min(v, input.max)) / input.max) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const gy = y(t * input.max);
    return `<line x1="${left}" y1="${gy}" x2="${width - 130}" y2="${gy}" stroke="#ddd"/><text x="${left - 6}" y="${gy + 4}" font-size="11" text-anchor="end" ${FONT}>${fmt(t * input.max)}</text>`;
  }).join('');
  const bars = input.items.map((it, i) => {
    const cx = left + i * slot + slot / 2;
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    return `<rect class="bar" data-kind="${input.kind}" data-series="${escapeXml(it.name)}" data-value="${it.value}" x="${cx - 18}" y="${y(it.value)}" width="36" height="${top + plotH - y(it.value)}" fill="${color}"><title>${escapeXml(`${it.name}: ${it.value.toFixed(3)} [${it.low.toFixed(3)}, ${it.high.toFixed(3)}]`)}</title></rect>`
      + `<line class="whisker" x1="${cx}" y1="${y(it.high)}" x2="${cx}" y2="${y(it.low)}" stroke="#222" stroke-width="1.5"/>`
      + `<line x1="${cx - 8}" y1="${y(it.high)}" x2="${cx + 8}" y2="${y(it.high)}" stroke="#222" stroke-width="1.5"/>`
      + `<line x1="${cx - 8}" y1="${y(it.low)}" x2="${cx + 8}" y2="${y(it.low)}" stroke="#222" stroke-width="1.5"/>`
      + `<text x="${cx}" y="${top + plotH + 16}" font-size="12" text-anchor="middle" ${FONT}>${escapeXml(it.name)}</text>`;
  }).join('');
  const ref = input.reference
    ? `<line x1="${left}" y1="${y(input.reference.value)}" x2="${width - 130}" y2="${y(input.reference.value)}" stroke="#D55E00" stroke-dasharray="5 4"/><text x="${width - 126}" y="${y(input.reference.value) + 4}" font-size="11" fill="#D55E00" ${FONT}>${escapeXml(input.reference.label)}</text>`
    : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-kind="${input.kind}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(input.title)}">`
    + `<text x="${left}" y="20" font-size="15" font-weight="600" ${FONT}>${escapeXml(input.title)}</text>${grid}`
    + `<text x="14" y="${top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle" ${FONT}>${escapeXml(input.yLabel)}</text>`
    + `${ref}${bars}<line x1="${left}" y1="${top + plotH}" x2="${width - 130}" y2="${top + plotH}" stroke="#333"/></svg>`;
}
