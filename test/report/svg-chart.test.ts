import { describe, expect, it } from 'vitest';
import {
  formatValue,
  lineChart,
  niceTicks,
  SERIES_COLOURS,
  stackedBarChart,
  STATUS_COLOURS,
  statusStrip,
  timeTicks,
  valueTicks,
  type ChartPoint,
  type ChartSeries,
  type ChartUnit,
  type RunStatus,
  type StackedBar,
} from '../../src/report/svg-chart.js';

const KIB = 1024;
const MIB = 1024 ** 2;
const TIB = 1024 ** 4;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 1, 3, 0);
const NNBSP = '\u202F';

const STATUS_CYCLE: RunStatus[] = ['ok', 'ok', 'warnings', 'ok', 'partial', 'ok', 'incomplete'];

function points(count: number, value: (i: number) => number, options: { prefix?: string; step?: number; status?: (i: number) => RunStatus } = {}): ChartPoint[] {
  const { prefix = 's', step = DAY, status = () => 'ok' } = options;
  return Array.from({ length: count }, (_, i) => ({ time: T0 + i * step, value: value(i), id: `${prefix}-${i}`, label: `${prefix} run ${i}`, status: status(i) }));
}

function matches(text: string, pattern: RegExp): RegExpMatchArray[] {
  return [...text.matchAll(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g'))];
}

function count(text: string, pattern: RegExp): number {
  return matches(text, pattern).length;
}

/** Each number an attribute holds, e.g. every cy of the ok markers. */
function numbers(text: string, pattern: RegExp): number[] {
  return matches(text, pattern).map((m) => Number(m[1]));
}

/** The y-axis labels, top to bottom as written (they are written bottom up). */
function yLabels(html: string): string[] {
  const axis = /<g class="axis y-axis"[^>]*>(.*?)<\/g>/.exec(html)![1]!;
  return matches(axis, /<text[^>]*>([^<]*)<\/text>/).map((m) => m[1]!);
}

/** The y at which each y-axis label sits, by its text (the label's baseline is its tick's y + 4). */
function tickY(html: string, label: string): number {
  const axis = /<g class="axis y-axis"[^>]*>(.*?)<\/g>/.exec(html)![1]!;
  const hit = matches(axis, /<text x="[^"]*" y="([^"]*)">([^<]*)<\/text>/).find((m) => m[2] === label);
  if (hit === undefined) throw new Error(`no y label ${label} in ${axis}`);
  return Number(hit[1]) - 4;
}

/**
 * Checks that the markup nests properly, quotes every attribute, holds no raw `<`, `>` or `&`
 * outside markup and entities, and has no number that went wrong.
 */
function expectWellFormed(html: string): void {
  expect(html).not.toMatch(/NaN|Infinity|undefined|null/);
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    const text = html.slice(i, lt === -1 ? html.length : lt);
    expect(text, `text at ${i}`).not.toMatch(/>|&(?!(amp|lt|gt|quot|#39);)/);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(html);
    if (m === null) throw new Error(`malformed tag at ${lt}: ${html.slice(lt, lt + 80)}`);
    const [, closing, name, , selfClosing] = m;
    if (closing === '/') expect(stack.pop(), `closing </${name}> at ${lt}`).toBe(name);
    else if (selfClosing !== '/') stack.push(name!);
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
}

/** Checks the frame every chart shares: a figure with its key, an SVG that scales and is labelled, the caption. */
function expectFigure(html: string, key: string, title: string): void {
  expectWellFormed(html);
  expect(html.startsWith(`<figure class="chart`)).toBe(true);
  expect(html).toContain(`data-chart="${key}"`);
  expect(html).toMatch(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 [\d.]+ [\d.]+"/);
  expect(html).toContain(`role="img" aria-label="${title}"`);
  expect(html.endsWith(`</svg><figcaption>${title}</figcaption></figure>`)).toBe(true);
}

describe('niceTicks', () => {
  it.each<{ name: string; min: number; max: number; count: number; expected: number[] }>([
    { name: 'a round range in steps of 25', min: 0, max: 100, count: 5, expected: [0, 25, 50, 75, 100] },
    { name: 'the range [0, 1]', min: 0, max: 1, count: 5, expected: [0, 0.25, 0.5, 0.75, 1] },
    { name: 'an odd maximum is rounded up', min: 0, max: 7, count: 5, expected: [0, 2, 4, 6, 8] },
    { name: 'decimal steps carry no float noise', min: 0.1, max: 0.9, count: 5, expected: [0, 0.2, 0.4, 0.6, 0.8, 1] },
    { name: 'negative to positive', min: -30, max: 70, count: 5, expected: [-50, -25, 0, 25, 50, 75] },
    { name: '5 TiB in bytes, in steps of 2 × 10^12', min: 0, max: 5 * TIB, count: 5, expected: [0, 2e12, 4e12, 6e12] },
    { name: 'more ticks asked, smaller steps', min: 0, max: 100, count: 11, expected: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100] },
    { name: 'one tick asked still gives both ends', min: 0, max: 100, count: 1, expected: [0, 100] },
    { name: 'bounds in either order', min: 100, max: 0, count: 5, expected: [0, 25, 50, 75, 100] },
    { name: 'zero span at 0 covers [0, 1]', min: 0, max: 0, count: 5, expected: [0, 0.25, 0.5, 0.75, 1] },
    { name: 'zero span elsewhere covers [v, 2v]', min: 5, max: 5, count: 5, expected: [4, 6, 8, 10] },
    { name: 'NaN gives none', min: Number.NaN, max: 1, count: 5, expected: [] },
    { name: 'Infinity gives none', min: 0, max: Infinity, count: 5, expected: [] },
  ])('$name', ({ min, max, count, expected }) => {
    expect(niceTicks(min, max, count)).toEqual(expected);
  });

  it('covers the range in equal 1, 2, 2.5 or 5 × 10^k steps, with about as many ticks as asked', () => {
    for (const [min, max] of [
      [0, 3],
      [0, 13],
      [2, 97],
      [0, 0.003],
      [17, 17.5],
      [0, 123_456_789],
      [-1e9, 3e9],
      [0, 5 * TIB],
    ] as const) {
      for (const wanted of [3, 5, 8]) {
        const ticks = niceTicks(min, max, wanted);
        expect(ticks[0]).toBeLessThanOrEqual(min);
        expect(ticks.at(-1)).toBeGreaterThanOrEqual(max);
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(2 * wanted + 1);
        const step = ticks[1]! - ticks[0]!;
        const mantissa = step / 10 ** Math.floor(Math.log10(step));
        expect([1, 2, 2.5, 5].some((m) => Math.abs(mantissa - m) < 1e-9)).toBe(true);
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeCloseTo(step, 9);
      }
    }
  });
});

describe('valueTicks: linear ticks round in the unit they are shown in', () => {
  it.each<{ name: string; min: number; max: number; unit: ChartUnit; expected: number[] }>([
    { name: 'TiB steps for 5 TiB', min: 0, max: 5 * TIB, unit: 'bytes', expected: [0, 2 * TIB, 4 * TIB, 6 * TIB] },
    { name: 'MiB/s steps', min: 0, max: 80 * MIB, unit: 'bytesPerSecond', expected: [0, 20 * MIB, 40 * MIB, 60 * MIB, 80 * MIB] },
    { name: 'never less than a byte apart', min: 0, max: 2, unit: 'bytes', expected: [0, 1, 2] },
    { name: 'never less than one count apart, even for all zeros', min: 0, max: 0, unit: 'count', expected: [0, 1] },
    { name: 'seconds under a minute', min: 0, max: 45, unit: 'seconds', expected: [0, 20, 40, 60] },
    { name: 'half minutes under an hour', min: 0, max: 100, unit: 'seconds', expected: [0, 30, 60, 90, 120] },
    { name: 'half hours above', min: 0, max: 7200, unit: 'seconds', expected: [0, 1800, 3600, 5400, 7200] },
  ])('$name', ({ min, max, unit, expected }) => {
    expect(valueTicks(min, max, 5, unit)).toEqual(expected);
  });
});

describe('formatValue', () => {
  it.each<{ value: number; unit: ChartUnit; expected: string }>([
    { value: 0, unit: 'bytes', expected: '0 B' },
    { value: 1023, unit: 'bytes', expected: '1023 B' },
    { value: 1536, unit: 'bytes', expected: '1.5 KiB' },
    { value: 5 * TIB, unit: 'bytes', expected: '5.0 TiB' },
    { value: 50 * MIB, unit: 'bytesPerSecond', expected: '50.0 MiB/s' },
    { value: 10 / 3, unit: 'bytesPerSecond', expected: '3.3 B/s' },
    { value: 0.25, unit: 'bytesPerSecond', expected: '0.3 B/s' },
    { value: 200 * KIB, unit: 'bytesPerSecond', expected: '200 KiB/s' },
    { value: 0, unit: 'seconds', expected: '0 s' },
    { value: 0.35, unit: 'seconds', expected: '0.35 s' },
    { value: 2.5, unit: 'seconds', expected: '2.5 s' },
    { value: 45, unit: 'seconds', expected: '45 s' },
    { value: 59.4, unit: 'seconds', expected: '59 s' },
    { value: 59.6, unit: 'seconds', expected: '1 min' },
    { value: 192, unit: 'seconds', expected: '3.2 min' },
    { value: 300, unit: 'seconds', expected: '5 min' },
    { value: 3599, unit: 'seconds', expected: '1 h' },
    { value: 5400, unit: 'seconds', expected: '1.5 h' },
    { value: 360_000, unit: 'seconds', expected: '100 h' },
    { value: 0, unit: 'count', expected: '0' },
    { value: 999, unit: 'count', expected: '999' },
    { value: 1234, unit: 'count', expected: `1${NNBSP}234` },
    { value: 1_234_567, unit: 'count', expected: `1${NNBSP}234${NNBSP}567` },
    { value: -1234, unit: 'count', expected: `-1${NNBSP}234` },
    { value: 12.6, unit: 'count', expected: '13' },
    { value: Number.NaN, unit: 'count', expected: 'n/a' },
    { value: Infinity, unit: 'bytes', expected: 'n/a' },
  ])('$value $unit → $expected', ({ value, unit, expected }) => {
    expect(formatValue(value, unit)).toBe(expected);
  });
});

describe('timeTicks', () => {
  const at = (iso: string): number => Date.parse(iso);
  it.each<{ name: string; min: string; max: string; count: number; expected: string[] }>([
    {
      name: 'hours over six hours',
      min: '2026-12-01T00:00:00Z',
      max: '2026-12-01T06:00:00Z',
      count: 6,
      expected: ['12-01 00:00', '12-01 01:00', '12-01 02:00', '12-01 03:00', '12-01 04:00', '12-01 05:00', '12-01 06:00'],
    },
    {
      name: 'quarter hours, from the first boundary inside',
      min: '2026-12-01T03:10:00Z',
      max: '2026-12-01T04:00:00Z',
      count: 5,
      expected: ['12-01 03:15', '12-01 03:30', '12-01 03:45', '12-01 04:00'],
    },
    { name: 'seconds under a minute', min: '2026-12-01T12:00:05Z', max: '2026-12-01T12:00:50Z', count: 4, expected: ['12:00:15', '12:00:30', '12:00:45'] },
    {
      name: 'six-hour steps at 00, 06, 12, 18 UTC',
      min: '2026-11-30T22:00:00Z',
      max: '2026-12-01T20:00:00Z',
      count: 4,
      expected: ['12-01 00:00', '12-01 06:00', '12-01 12:00', '12-01 18:00'],
    },
    { name: 'days', min: '2026-11-01T00:00:00Z', max: '2026-11-05T00:00:00Z', count: 5, expected: ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05'] },
    {
      name: 'weeks fall on Mondays',
      min: '2026-11-01T00:00:00Z',
      max: '2026-12-15T00:00:00Z',
      count: 8,
      expected: ['2026-11-02', '2026-11-09', '2026-11-16', '2026-11-23', '2026-11-30', '2026-12-07', '2026-12-14'],
    },
    { name: 'two-month steps from January', min: '2026-01-15T00:00:00Z', max: '2026-12-31T00:00:00Z', count: 6, expected: ['2026-03', '2026-05', '2026-07', '2026-09', '2026-11'] },
    { name: 'months across a year end', min: '2026-11-20T00:00:00Z', max: '2027-03-01T00:00:00Z', count: 5, expected: ['2026-12', '2027-01', '2027-02', '2027-03'] },
    { name: 'five-year steps', min: '2020-06-01T00:00:00Z', max: '2031-01-01T00:00:00Z', count: 5, expected: ['2025', '2030'] },
    { name: 'bounds in either order', min: '2026-12-01T06:00:00Z', max: '2026-12-01T00:00:00Z', count: 3, expected: ['12-01 00:00', '12-01 03:00', '12-01 06:00'] },
  ])('$name', ({ min, max, count, expected }) => {
    const ticks = timeTicks(at(min), at(max), count);
    expect(ticks.map((t) => t.label)).toEqual(expected);
    for (const tick of ticks) {
      expect(tick.time).toBeGreaterThanOrEqual(Math.min(at(min), at(max)));
      expect(tick.time).toBeLessThanOrEqual(Math.max(at(min), at(max)));
    }
  });

  it('puts each tick on the boundary its label names (UTC)', () => {
    const ticks = timeTicks(at('2026-11-20T00:00:00Z'), at('2027-03-01T00:00:00Z'), 5);
    expect(ticks.map((t) => new Date(t.time).toISOString())).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
      '2027-02-01T00:00:00.000Z',
      '2027-03-01T00:00:00.000Z',
    ]);
  });

  it.each([
    ['NaN', Number.NaN, T0],
    ['Infinity', T0, Infinity],
    ['beyond what a Date holds', T0, 1e16],
  ])('gives no ticks for a bound that is %s', (_, min, max) => {
    expect(timeTicks(min, max, 5)).toEqual([]);
  });
});

describe('lineChart', () => {
  const mixed: ChartSeries[] = [
    { name: 'files /etc', points: points(14, (i) => (i + 1) * MIB, { prefix: 'etc', status: (i) => STATUS_CYCLE[i % STATUS_CYCLE.length]! }) },
    { name: 'postgres', points: points(7, (i) => (7 - i) * MIB, { prefix: 'pg', status: (i) => STATUS_CYCLE[i]! }) },
  ];

  it('draws one marker per point, classed by status, with the snapshot id and a tooltip', () => {
    const html = lineChart({ key: 'size', title: 'Repository size', unit: 'bytes', series: mixed });
    expectFigure(html, 'size', 'Repository size');
    expect(count(html, /class="marker status-[a-z]+" data-id="/)).toBe(21);
    expect(count(html, /class="marker status-ok" data-id="/)).toBe(12);
    expect(count(html, /class="marker status-warnings" data-id="/)).toBe(3);
    expect(count(html, /class="marker status-partial" data-id="/)).toBe(3);
    expect(count(html, /class="marker status-incomplete" data-id="/)).toBe(3);
    for (const s of mixed) for (const p of s.points) expect(html).toMatch(new RegExp(`data-id="${p.id}"[^>]*><title>${p.label}</title>`));
  });

  it('draws each status in its own shape and colour', () => {
    const html = lineChart({ key: 'size', title: 'Size', unit: 'bytes', series: mixed });
    expect(html).toMatch(/<circle class="marker status-ok" data-id="etc-0" cx="[\d.]+" cy="[\d.]+" r="2.5">/);
    expect(html).toMatch(new RegExp(`<path class="marker status-warnings" data-id="etc-2" fill="${STATUS_COLOURS.warnings}" [^>]*d="M[\\d.]+ [\\d.]+l5.2 9h-10.4z"`));
    expect(html).toMatch(new RegExp(`<path class="marker status-partial" data-id="etc-4" fill="${STATUS_COLOURS.partial}" [^>]*d="M[\\d.]+ [\\d.]+l5.5 5.5-5.5 5.5-5.5-5.5z"`));
    expect(html).toMatch(
      new RegExp(`<g class="marker status-incomplete" data-id="etc-6" stroke="${STATUS_COLOURS.incomplete}"[^>]*><title>etc run 6</title><line [^>]*/><line [^>]*/></g>`),
    );
    // The amber and red are not series colours.
    expect(SERIES_COLOURS).not.toContain(STATUS_COLOURS.warnings);
    expect(SERIES_COLOURS).not.toContain(STATUS_COLOURS.partial);
    expect(SERIES_COLOURS).not.toContain('#E69F00');
  });

  it('draws problem markers after every line, so no line hides them', () => {
    const html = lineChart({ key: 'size', title: 'Size', unit: 'bytes', series: mixed });
    const lastLine = html.lastIndexOf('<polyline');
    expect(lastLine).toBeGreaterThan(0);
    for (const m of matches(html, /class="marker status-(warnings|partial|incomplete)" data-id/)) expect(m.index).toBeGreaterThan(lastLine);
  });

  it('colours series by index from the palette, wrapping around, by class and by attribute; wrapped series are dashed', () => {
    const series = Array.from({ length: 7 }, (_, k) => ({ name: `s${k}`, points: points(3, (i) => i + k, { prefix: `p${k}` }) }));
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series });
    const groups = matches(html, /<g class="series (series-\d+)" fill="([^"]+)"><polyline class="line" fill="none" stroke="([^"]+)"[^>]*?( stroke-dasharray="[^"]+")? points=/);
    expect(groups.map((g) => g[1])).toEqual(['series-0', 'series-1', 'series-2', 'series-3', 'series-4', 'series-0', 'series-1']);
    expect(groups.map((g) => g[2])).toEqual([0, 1, 2, 3, 4, 0, 1].map((i) => SERIES_COLOURS[i]));
    expect(groups.map((g) => g[3])).toEqual(groups.map((g) => g[2]));
    expect(groups.map((g) => g[4] !== undefined)).toEqual([false, false, false, false, false, true, true]);
  });

  it('escapes every text it is given', () => {
    const evil = '<script>alert(1)</script>';
    const html = lineChart({
      key: 'k"><x',
      title: `Sizes & <b>"quoted"</b> 'too'`,
      unit: 'bytes',
      series: [{ name: evil, points: [{ time: T0, value: 1, id: 'id"><script>alert(2)</script>', label: `a & b "c" 'd' <e>`, status: 'warnings' }] }],
    });
    expectWellFormed(html);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('data-chart="k&quot;&gt;&lt;x"');
    expect(html).toContain('data-id="id&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"');
    expect(html).toContain('<title>a &amp; b &quot;c&quot; &#39;d&#39; &lt;e&gt;</title>');
    expect(html).toContain('aria-label="Sizes &amp; &lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &#39;too&#39;"');
    expect(html).toContain('<figcaption>Sizes &amp; &lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &#39;too&#39;</figcaption>');
  });

  it('drops control characters XML does not allow', () => {
    const html = lineChart({ key: 'k', title: 'bell\u0007 here', unit: 'count', series: [{ name: 'n\u0000ul', points: points(1, () => 1) }] });
    expect(html).toContain('<figcaption>bell here</figcaption>');
    expect(html).toContain('>nul</text>');
  });

  it('names the first 8 series in the legend and counts the rest', () => {
    const series = Array.from({ length: 11 }, (_, k) => ({ name: `series ${k}`, points: points(2, (i) => i, { prefix: `p${k}` }) }));
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series });
    expectWellFormed(html);
    const legend = /<g class="legend"[^>]*>(.*?)<\/g><path class="grid"/.exec(html)![1]!;
    expect(matches(legend, /<text[^>]*>([^<]*)<\/text>/).map((m) => m[1])).toEqual([...Array.from({ length: 8 }, (_, k) => `series ${k}`), '+3 more']);
    expect(count(html, /<polyline /)).toBe(11);
    expect(count(html, /class="marker status-ok" data-id=/)).toBe(22);
  });

  it('lists in the legend only the statuses other than ok that occur', () => {
    const legendTexts = (html: string): string[] => matches(/<g class="legend"[^>]*>(.*?)<\/g><path class="grid"/.exec(html)![1]!, /<text[^>]*>([^<]*)<\/text>/).map((m) => m[1]!);
    expect(legendTexts(lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: points(3, (i) => i) }] }))).toEqual(['a']);
    const someWarnings = points(3, (i) => i, { status: (i) => (i === 1 ? 'warnings' : 'ok') });
    expect(legendTexts(lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: someWarnings }] }))).toEqual(['a', 'warnings']);
    expect(legendTexts(lineChart({ key: 'k', title: 'T', unit: 'count', series: mixed }))).toEqual(['files /etc', 'postgres', 'warnings', 'partial', 'incomplete']);
  });

  it('cuts a long series name in the legend and keeps it whole in the tooltip', () => {
    const name = 'a very long series name that goes on and on';
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name, points: points(2, (i) => i) }] });
    expect(html).toContain(`<g class="legend-item series-0"><title>${name}</title>`);
    expect(html).toContain('>a very long series name…</text>');
  });

  it.each<{ name: string; series: ChartSeries[] }>([
    { name: 'no series', series: [] },
    { name: 'series without points', series: [{ name: 'a', points: [] }] },
    {
      name: 'only points that are not numbers',
      series: [{ name: 'a', points: [...points(1, () => Number.NaN), ...points(1, () => Infinity), { ...points(1, () => 1)[0]!, time: Number.NaN }] }],
    },
  ])('draws the frame and "no data" for $name', ({ series }) => {
    const html = lineChart({ key: 'empty', title: 'Nothing', unit: 'bytes', series });
    expectFigure(html, 'empty', 'Nothing');
    expect(html).toContain('<rect class="frame"');
    expect(html).toContain('>no data</text>');
    expect(html).not.toContain('class="marker');
  });

  it('leaves out points that are not numbers and draws the rest', () => {
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: [...points(3, (i) => i), { ...points(1, () => Number.NaN)[0]!, id: 'bad' }] }] });
    expectWellFormed(html);
    expect(count(html, /class="marker status-ok" data-id=/)).toBe(3);
    expect(html).not.toContain('data-id="bad"');
  });

  it('centres a single point in a day-wide time axis', () => {
    const html = lineChart({ key: 'one', title: 'One', unit: 'count', series: [{ name: 'a', points: points(1, () => 12_345) }] });
    expectFigure(html, 'one', 'One');
    const [x1, x2] = [Number(/class="axis baseline" x1="([\d.]+)"/.exec(html)![1]), Number(/class="axis baseline" x1="[\d.]+" y1="[\d.]+" x2="([\d.]+)"/.exec(html)![1])];
    const [cx] = numbers(html, /class="marker status-ok" data-id="s-0" cx="([\d.]+)"/);
    expect(Math.abs(cx! - (x1 + x2) / 2)).toBeLessThanOrEqual(0.1);
    expect(count(html, /<g class="axis x-axis"[^>]*>.*?<text /)).toBe(1);
    expect(html).toMatch(/>12-01 00:00<\/text>/);
    expect(yLabels(html)[0]).toBe('0');
  });

  it('puts every point on the baseline when all values are 0', () => {
    const html = lineChart({ key: 'z', title: 'Zero', unit: 'bytes', series: [{ name: 'a', points: points(5, () => 0) }] });
    expectFigure(html, 'z', 'Zero');
    expect(yLabels(html)).toEqual(['0 B', '1 B']);
    const cys = numbers(html, /class="marker status-ok" data-id="[^"]*" cx="[\d.]+" cy="([\d.]+)"/);
    expect(cys).toHaveLength(5);
    for (const cy of cys) expect(cy).toBeCloseTo(tickY(html, '0 B'), 1);
  });

  it('reaches a huge value with round binary ticks', () => {
    const html = lineChart({ key: 'h', title: 'Huge', unit: 'bytes', series: [{ name: 'a', points: points(3, (i) => [0, 2 * TIB, 5 * TIB][i]!) }] });
    expectFigure(html, 'h', 'Huge');
    expect(yLabels(html)).toEqual(['0 B', '2.0 TiB', '4.0 TiB', '6.0 TiB']);
    const cys = numbers(html, /class="marker status-ok" data-id="[^"]*" cx="[\d.]+" cy="([\d.]+)"/);
    expect(cys[0]).toBeCloseTo(tickY(html, '0 B'), 1);
    expect(cys[1]).toBeCloseTo(tickY(html, '2.0 TiB'), 1);
    const fraction = (tickY(html, '0 B') - cys[2]!) / (tickY(html, '0 B') - tickY(html, '6.0 TiB'));
    expect(fraction).toBeCloseTo(5 / 6, 2);
  });

  it('starts a linear axis at 0 even when the values are far from it', () => {
    const html = lineChart({ key: 'k', title: 'T', unit: 'bytes', series: [{ name: 'a', points: points(3, (i) => (100 + 50 * i) * MIB) }] });
    expect(yLabels(html)).toEqual(['0 B', '50.0 MiB', '100 MiB', '150 MiB', '200 MiB']);
  });

  it('labels the time axis with round UTC boundaries', () => {
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: points(40, (i) => i) }] });
    const labels = matches(/<g class="axis x-axis"[^>]*>(.*?)<\/g>/.exec(html)![1]!, /<text[^>]*>([^<]*)<\/text>/).map((m) => m[1]);
    // 39 days over a plot ~650 wide, a label per 100: weekly, on Mondays.
    expect(labels).toEqual(['2026-12-07', '2026-12-14', '2026-12-21', '2026-12-28', '2027-01-04']);
  });

  it('on a log scale, spans the decades and puts zeros on the axis bottom', () => {
    const values = [0, 10, 1000, 1_000_000];
    const html = lineChart({ key: 'log', title: 'Log', unit: 'count', logScale: true, series: [{ name: 'a', points: points(4, (i) => values[i]!) }] });
    expectFigure(html, 'log', 'Log');
    expect(yLabels(html)).toEqual(['1', '100', `10${NNBSP}000`, `1${NNBSP}000${NNBSP}000`]);
    const cys = numbers(html, /class="marker status-ok" data-id="[^"]*" cx="[\d.]+" cy="([\d.]+)"/);
    expect(cys[0]).toBeCloseTo(tickY(html, '1'), 1);
    expect(cys[2]).toBeCloseTo((tickY(html, '100') + tickY(html, `10${NNBSP}000`)) / 2, 0);
    expect(cys[3]).toBeCloseTo(tickY(html, `1${NNBSP}000${NNBSP}000`), 1);
  });

  it('on a log scale of bytes, ticks at round binary sizes', () => {
    const html = lineChart({ key: 'log', title: 'Log', unit: 'bytes', logScale: true, series: [{ name: 'a', points: points(3, (i) => [3 * KIB, 40 * MIB, 2 * TIB][i]!) }] });
    expect(yLabels(html)).toEqual(['1.0 KiB', '1.0 MiB', '1.0 GiB', '1.0 TiB', '1.0 PiB']);
  });

  it('on a log scale with only zeros, draws them on the bottom without NaN', () => {
    const html = lineChart({ key: 'log', title: 'Log', unit: 'seconds', logScale: true, series: [{ name: 'a', points: points(3, () => 0) }] });
    expectFigure(html, 'log', 'Log');
    expect(yLabels(html)).toEqual(['0 s', '0.01 s']);
    for (const cy of numbers(html, /class="marker status-ok" data-id="[^"]*" cx="[\d.]+" cy="([\d.]+)"/)) expect(cy).toBeCloseTo(tickY(html, '0 s'), 1);
  });

  it('connects points in time order whatever order they come in', () => {
    const shuffled = points(6, (i) => i * i);
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: [3, 0, 5, 1, 4, 2].map((i) => shuffled[i]!) }] });
    const xs = /<polyline [^>]*points="([^"]*)"/
      .exec(html)![1]!
      .split(' ')
      .map((pair) => Number(pair.split(',')[0]));
    expect(xs).toHaveLength(6);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
  });

  it('stays small at 1,000 points: every marker drawn, smaller, coordinates to 1 decimal', () => {
    const series = [{ name: 'big', points: points(1000, (i) => 5e7 + 3e7 * Math.sin(i / 7), { step: HOUR, status: (i) => (i % 100 === 0 ? 'partial' : 'ok') }) }];
    const html = lineChart({ key: 'big', title: 'Big', unit: 'bytesPerSecond', series });
    expectFigure(html, 'big', 'Big');
    expect(count(html, /class="marker status-[a-z]+" data-id="/)).toBe(1000);
    expect(count(html, /class="marker status-partial" data-id="/)).toBe(10);
    expect(Buffer.byteLength(html)).toBeLessThan(250_000);
    expect(html).not.toMatch(/="-?\d+\.\d{2,}"/);
    expect(html).not.toMatch(/\d\.\d{2,}[, ]/);
    // Markers of a series denser than the plot is wide are smaller.
    expect(count(html, /class="marker status-ok" [^>]*r="1.5"/)).toBe(990);
  });

  it('thins a line denser than the pixels to the lowest and highest point of each column', () => {
    const series = [{ name: 'big', points: points(1000, (i) => 5e7 + 3e7 * Math.sin(i / 7), { step: HOUR }) }];
    const html = lineChart({ key: 'big', title: 'Big', unit: 'bytes', series, width: 300 });
    expectWellFormed(html);
    const line = /<polyline [^>]*points="([^"]*)"/
      .exec(html)![1]!
      .split(' ')
      .map((pair) => pair.split(',').map(Number) as [number, number]);
    const [x1, x2] = [Number(/class="axis baseline" x1="([\d.]+)"/.exec(html)![1]), Number(/class="axis baseline" x1="[\d.]+" y1="[\d.]+" x2="([\d.]+)"/.exec(html)![1])];
    expect(line.length).toBeLessThanOrEqual(2 * Math.ceil(x2 - x1));
    expect(line.length).toBeGreaterThan(x2 - x1 - 2 * 8);
    const cys = numbers(html, /class="marker status-ok" data-id="[^"]*" cx="[\d.]+" cy="([\d.]+)"/);
    expect(cys).toHaveLength(1000);
    expect(Math.min(...line.map(([, y]) => y))).toBe(Math.min(...cys));
    expect(Math.max(...line.map(([, y]) => y))).toBe(Math.max(...cys));
    expect([...line.map(([x]) => x)].sort((a, b) => a - b)).toEqual(line.map(([x]) => x));
  });

  it('stays well-formed with several series of 1,000 points', () => {
    const series = Array.from({ length: 5 }, (_, k) => ({ name: `s${k}`, points: points(1000, (i) => (k + 1) * (i % 97), { prefix: `p${k}`, step: HOUR }) }));
    const html = lineChart({ key: 'many', title: 'Many', unit: 'seconds', series });
    expectFigure(html, 'many', 'Many');
    expect(count(html, /class="marker status-ok" data-id="/)).toBe(5000);
    expect(Buffer.byteLength(html)).toBeLessThan(5 * 250_000);
  });

  it('gives the same output for the same input', () => {
    expect(lineChart({ key: 'k', title: 'T', unit: 'bytes', series: mixed })).toBe(lineChart({ key: 'k', title: 'T', unit: 'bytes', series: mixed }));
  });

  it('grows taller rather than squeezing the plot under a long legend', () => {
    const series = Array.from({ length: 8 }, (_, k) => ({ name: `a rather long series name ${k}`, points: points(2, (i) => i, { prefix: `p${k}` }) }));
    const html = lineChart({ key: 'k', title: 'T', unit: 'count', series, width: 200, height: 100 });
    expectWellFormed(html);
    expect(tickY(html, '0') - tickY(html, '1')).toBeGreaterThanOrEqual(80);
    expect(Number(/viewBox="0 0 [\d.]+ ([\d.]+)"/.exec(html)![1])).toBeGreaterThan(100);
  });

  it.each<{ name: string; options: { width?: number; height?: number }; message: RegExp }>([
    { name: 'a width below 200', options: { width: 150 }, message: /Expected `width` to be a number from 200 up, got 150/ },
    { name: 'a height that is NaN', options: { height: Number.NaN }, message: /Expected `height` to be a number from 100 up, got NaN/ },
  ])('refuses $name', ({ options, message }) => {
    expect(() => lineChart({ key: 'k', title: 'T', unit: 'count', series: [], ...options })).toThrow(message);
  });

  it('refuses a status it does not know', () => {
    const point = { ...points(1, () => 1)[0]!, status: 'failed' as RunStatus };
    expect(() => lineChart({ key: 'k', title: 'T', unit: 'count', series: [{ name: 'a', points: [point] }] })).toThrow(
      /Run "s-0" has status "failed"; expected one of ok, warnings, partial, incomplete/,
    );
  });
});

describe('stackedBarChart', () => {
  const parts = [
    { name: 'stored new', className: 'new' },
    { name: 'reused', className: 'reused' },
  ];
  const bars: StackedBar[] = Array.from({ length: 7 }, (_, i) => ({
    time: T0 + i * DAY,
    id: `b-${i}`,
    label: `bar ${i}`,
    status: STATUS_CYCLE[i]!,
    parts: [(i + 1) * MIB, 10 * MIB],
  }));

  it('draws one bar per run with its id and tooltip, stacked from its parts, one class per part', () => {
    const html = stackedBarChart({ key: 'stored', title: 'Stored', unit: 'bytes', parts, bars });
    expectFigure(html, 'stored', 'Stored');
    expect(count(html, /<rect class="bar status-[a-z]+" data-id="b-\d"[^>]*><title>bar \d<\/title><\/rect>/)).toBe(7);
    expect(count(html, /<rect class="bar status-ok"/)).toBe(4);
    const layer = (i: number): RegExpMatchArray => new RegExp(`<g class="part part-${i} ${parts[i]!.className}" fill="${SERIES_COLOURS[i]}">(.*?)</g>`).exec(html)!;
    const rects = (i: number): Array<{ y: number; height: number }> =>
      matches(layer(i)[1]!, /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"\/>/).map((m) => ({ y: Number(m[1]), height: Number(m[2]) }));
    expect(rects(0)).toHaveLength(7);
    expect(rects(1)).toHaveLength(7);
    // Each reused part sits on its bar's new part.
    for (let i = 0; i < 7; i++) expect(rects(1)[i]!.y + rects(1)[i]!.height).toBeCloseTo(rects(0)[i]!.y, 0);
    expect(yLabels(html)).toEqual(['0 B', '5.0 MiB', '10.0 MiB', '15.0 MiB', '20.0 MiB']);
  });

  it('marks the bars of runs that were not ok above the bar', () => {
    const html = stackedBarChart({ key: 'stored', title: 'Stored', unit: 'bytes', parts, bars });
    expect(count(html, /class="marker status-warnings" data-id="b-2"/)).toBe(1);
    expect(count(html, /class="marker status-partial" data-id="b-4"/)).toBe(1);
    expect(count(html, /class="marker status-incomplete" data-id="b-6"/)).toBe(1);
    expect(count(html, /class="marker status-ok"/)).toBe(0);
  });

  it('counts missing, negative and not-finite parts as 0, leaves out empty rectangles, and bars without a time', () => {
    const odd: StackedBar[] = [
      { time: T0, id: 'a', label: 'a', status: 'ok', parts: [-5, Number.NaN] },
      { time: T0 + DAY, id: 'b', label: 'b', status: 'ok', parts: [3 * KIB] },
      { time: Number.NaN, id: 'c', label: 'c', status: 'ok', parts: [1, 1] },
    ];
    const html = stackedBarChart({ key: 'k', title: 'T', unit: 'bytes', parts, bars: odd });
    expectWellFormed(html);
    expect(count(html, /<rect class="bar /)).toBe(2);
    expect(html).not.toContain('data-id="c"');
    expect(count(html, /<g class="part part-0 new"[^>]*><rect /)).toBe(1);
    expect(html).toMatch(/<g class="part part-1 reused"[^>]*><\/g>/);
  });

  it('escapes names, ids and labels', () => {
    const html = stackedBarChart({
      key: 'k',
      title: 'T',
      unit: 'bytes',
      parts: [{ name: '<script>alert(1)</script>', className: 'new' }],
      bars: [{ time: T0, id: '"x"', label: '<i>', status: 'ok', parts: [1] }],
    });
    expectWellFormed(html);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('data-id="&quot;x&quot;"');
    expect(html).toContain('<title>&lt;i&gt;</title>');
  });

  it.each<{ name: string; bars: StackedBar[]; parts: typeof parts }>([
    { name: 'no bars', bars: [], parts },
    { name: 'no parts', bars, parts: [] },
  ])('draws the frame and "no data" for $name', ({ bars, parts }) => {
    const html = stackedBarChart({ key: 'k', title: 'T', unit: 'bytes', parts, bars });
    expectFigure(html, 'k', 'T');
    expect(html).toContain('>no data</text>');
  });

  it('keeps 1,000 bars well-formed and each at least half a unit wide', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ time: T0 + i * HOUR, id: `b${i}`, label: `bar ${i}`, status: 'ok' as const, parts: [i * KIB, 5 * MIB] }));
    const html = stackedBarChart({ key: 'k', title: 'T', unit: 'bytes', parts, bars: many });
    expectFigure(html, 'k', 'T');
    expect(count(html, /<rect class="bar status-ok" data-id=/)).toBe(1000);
    for (const width of numbers(html, /<rect class="bar [^>]*width="([\d.]+)"/)) expect(width).toBeGreaterThanOrEqual(0.5);
    expect(Buffer.byteLength(html)).toBeLessThan(250_000);
  });

  it('refuses a className that is not one CSS class name', () => {
    expect(() => stackedBarChart({ key: 'k', title: 'T', unit: 'bytes', parts: [{ name: 'new', className: 'a b' }], bars })).toThrow(
      /Expected the className of part "new" to be one CSS class name, got "a b"/,
    );
  });
});

describe('statusStrip', () => {
  const runs = Array.from({ length: 130 }, (_, i) => ({ id: `r-${i}`, label: `run ${i}`, status: STATUS_CYCLE[i % STATUS_CYCLE.length]! }));

  it('draws one square per run in order, coloured by status, each with its id and tooltip', () => {
    const html = statusStrip({ key: 'runs', title: 'Runs', runs });
    expectFigure(html, 'runs', 'Runs');
    const ids = matches(html, /class="run status-[a-z]+" data-id="([^"]+)"/).map((m) => m[1]);
    expect(ids).toEqual(runs.map((r) => r.id));
    for (const status of ['ok', 'warnings', 'partial'] as const) {
      expect(count(html, new RegExp(`<rect class="run status-${status}" data-id="r-\\d+" [^>]*fill="${STATUS_COLOURS[status]}"><title>run \\d+</title></rect>`))).toBe(
        runs.filter((r) => r.status === status).length,
      );
    }
    expect(count(html, /<g class="run status-incomplete" data-id="r-\d+"><title>run \d+<\/title><rect [^>]*\/><path [^>]*\/><\/g>/)).toBe(18);
  });

  it('wraps into rows of 60 and keeps its size in px', () => {
    const html = statusStrip({ key: 'runs', title: 'Runs', runs });
    const ys = new Set(numbers(html, /class="run status-[a-z]+" data-id="[^"]+" x="[\d.]+" y="([\d.]+)"/));
    expect(ys.size).toBe(3);
    expect(new Set(numbers(html, /<rect [^>]*x="[\d.]+" y="([\d.]+)" width="10"/)).size).toBe(4); // 3 rows of runs and the key
    expect(html).toMatch(/<svg [^>]*width="721" height="[\d.]+" style="max-width:100%;height:auto"/);
  });

  it('counts the runs of each status in its key', () => {
    const html = statusStrip({ key: 'runs', title: 'Runs', runs });
    const key = /<g class="legend"[^>]*>(.*)<\/g><\/svg>/.exec(html)![1]!;
    expect(matches(key, /<text[^>]*>([^<]*)<\/text>/).map((m) => m[1])).toEqual(['ok 75', 'warnings 19', 'partial 18', 'incomplete 18']);
  });

  it('escapes ids, labels and the title', () => {
    const html = statusStrip({ key: 'k', title: '<T>', runs: [{ id: '"><script>alert(1)</script>', label: '&', status: 'ok' }] });
    expectFigure(html, 'k', '&lt;T&gt;');
    expect(html).not.toContain('<script');
    expect(html).toContain('data-id="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(html).toContain('<title>&amp;</title>');
  });

  it('draws "no data" when there are no runs', () => {
    const html = statusStrip({ key: 'k', title: 'T', runs: [] });
    expectFigure(html, 'k', 'T');
    expect(html).toContain('>no data</text>');
    expect(html.startsWith('<figure class="chart status-strip"')).toBe(true);
  });
});
