// Inline SVG charts for the offline HTML report (line charts, stacked bars, a run-status strip), rendered to strings at report time; no script, no dependencies.
// Colours are presentation attributes, so a chart prints without the page's stylesheet, and a stylesheet can still override them by class.

import { humanBytes } from '../human-units.js';
import type { RunStatus } from './report-data.js';

/** How a backup run ended, as the report shows it (report-data.ts). */
export type { RunStatus };

/** What a value measures, which decides its axis ticks and how it is written. */
export type ChartUnit = 'bytes' | 'seconds' | 'bytesPerSecond' | 'count';

/** One value of a series at one time: one run (snapshot). */
export interface ChartPoint {
  /** ms since the epoch */
  time: number;
  value: number;
  /** snapshot id: rendered as data-id on the marker so the page can link a click to the snapshot */
  id: string;
  /** tooltip text (put into an SVG <title> child of the marker; escaped) */
  label: string;
  status: RunStatus;
}

/** A named line of points. Points may come in any order; those whose time or value is not a finite number are left out. */
export interface ChartSeries {
  /** Shown in the legend, cut to 24 characters there (the whole name is the legend entry's tooltip). */
  name: string;
  points: ChartPoint[];
}

export interface LineChartOptions {
  /** Put into data-chart on the figure, for the page's script and stylesheet. */
  key: string;
  /** The figure's caption and the SVG's aria-label. */
  title: string;
  unit: ChartUnit;
  /** One line each; the legend names the first 8 and counts the rest ("+N more"). */
  series: ChartSeries[];
  /** viewBox width (default 720, at least 200); the SVG scales to the width of its container. */
  width?: number;
  /** viewBox height including legend and axes (default 240, at least 100); it grows when the legend would leave the plot less than 80. */
  height?: number;
  /** A logarithmic value axis, for values spanning orders of magnitude; values ≤ 0, or below the lowest tick, are drawn on the axis bottom. */
  logScale?: boolean;
}

/** One bar of a stacked bar chart: one run. */
export interface StackedBar {
  /** ms since the epoch; a bar whose time is not a finite number is left out */
  time: number;
  /** snapshot id, as data-id on the bar */
  id: string;
  /** the bar's tooltip (escaped) */
  label: string;
  status: RunStatus;
  /** one value per part of the chart, bottom up; a missing, negative or non-finite value counts as 0, extra values are ignored */
  parts: number[];
}

/** One layer of the stacked bars. */
export interface BarPart {
  /** Shown in the legend. */
  name: string;
  /** One CSS class name (letters, digits, `-`, `_`), put on the part's rectangles next to `part part-N`. */
  className: string;
}

export interface StackedBarChartOptions {
  /** Put into data-chart on the figure. */
  key: string;
  /** The figure's caption and the SVG's aria-label. */
  title: string;
  unit: ChartUnit;
  /** The layers, bottom up (e.g. bytes stored new, bytes reused). */
  parts: BarPart[];
  bars: StackedBar[];
  /** viewBox width (default 720, at least 200). */
  width?: number;
  /** viewBox height (default 240, at least 100). */
  height?: number;
}

/** One square of a status strip. */
export interface StripRun {
  /** snapshot id, as data-id on the square */
  id: string;
  /** the square's tooltip (escaped) */
  label: string;
  status: RunStatus;
}

export interface StatusStripOptions {
  /** Put into data-chart on the figure. */
  key: string;
  /** The figure's caption and the SVG's aria-label. */
  title: string;
  /** In time order, oldest first; they fill rows of 60 squares left to right. */
  runs: StripRun[];
}

/**
 * Series colours: the Okabe–Ito palette (safe for colour-blind readers) less three of its eight:
 * orange #E69F00 and vermillion #D55E00, kept clear so that warning and failure markers stand out,
 * and yellow #F0E442, unreadable on white paper. Series i is drawn in SERIES_COLOURS[i % 5] with the
 * class `series-${i % 5}`; from the sixth series on its line is dashed as well (SERIES_DASHES), so
 * that series sharing a colour still differ.
 */
export const SERIES_COLOURS: readonly string[] = ['#0072B2', '#009E73', '#CC79A7', '#56B4E9', '#000000'];

/** stroke-dasharray of a series' line by how many times the colours have wrapped around ('' is solid). */
export const SERIES_DASHES: readonly string[] = ['', '6 3', '2 2', '8 3 2 3'];

/**
 * Status colours. Amber #FFBF00 (warnings) is lighter and yellower than the palette's orange
 * #E69F00, and red #B2182B (partial, incomplete) darker and redder than its vermillion #D55E00;
 * neither is a series colour, and the two differ in lightness, which colour-blind readers see too.
 * An ok marker in a line chart takes its series' colour; this green (Okabe–Ito bluish green) is
 * for the status strip.
 */
export const STATUS_COLOURS: Readonly<Record<RunStatus, string>> = { ok: '#009E73', warnings: '#FFBF00', partial: '#B2182B', incomplete: '#B2182B' };

const STATUSES: readonly RunStatus[] = ['ok', 'warnings', 'partial', 'incomplete'];
/** Outline of the amber triangle: amber alone is too light on white paper. */
const AMBER_EDGE = '#7A5C00';
const TEXT_COLOUR = '#555555';
const GRID_COLOUR = '#E6E6E6';
const AXIS_COLOUR = '#999999';

/** A viewBox that fits a printed A4 page at 96 dpi less margins, and reads on a screen. */
const DEFAULT_WIDTH = 720;
const DEFAULT_HEIGHT = 240;
const MIN_WIDTH = 200;
const MIN_HEIGHT = 100;
const MIN_PLOT_HEIGHT = 80;
const FONT_SIZE = 11;
/** Average advance of an 11 px sans-serif glyph: margins and legend rows are sized from it, since nothing can measure text here. */
const CHAR_WIDTH = 6.2;
const LEGEND_ROW = 16;
const LEGEND_MAX_SERIES = 8;
const LEGEND_NAME_CHARS = 24;
/** Space between the plot's sides and its first and last marker. */
const INNER_PAD = 8;
/** Widest a bar gets, when few bars share the width. */
const MAX_BAR_WIDTH = 24;
/** Pixels of plot width per x-axis label (a label like `12-01 03:00` is ~70). */
const X_LABEL_SPACING = 100;
const Y_TICK_COUNT = 5;
const STRIP_CELL = 12;
const STRIP_SQUARE = 10;
const STRIP_PER_ROW = 60;
/** U+202F NARROW NO-BREAK SPACE: a thin digit-group separator that never wraps. */
const THIN_SPACE = '\u202F';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for XML content and attribute values: `& < > " '` escaped, and the control characters XML forbids removed. */
export function escapeXml(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A coordinate rounded to 1 decimal; anything not finite becomes 0, so no NaN reaches the markup. */
function n(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return Number.isFinite(rounded) ? String(rounded === 0 ? 0 : rounded) : '0';
}

/** A number with float noise removed (0.30000000000000004 → 0.3) and -0 as 0. */
function clean(value: number): number {
  const v = Number(value.toPrecision(15));
  return v === 0 ? 0 : v;
}

function trimZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/** A value formatted for an axis or tooltip in a unit: bytes → humanBytes, bytesPerSecond → `${humanBytes}/s`, seconds → `45 s`, `3.2 min`, `1.5 h`, count → integer with thin separators. */
export function formatValue(value: number, unit: ChartUnit): string {
  if (!Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 'bytes':
      return formatBytes(value);
    case 'bytesPerSecond':
      return `${formatBytes(value)}/s`;
    case 'seconds':
      return formatSeconds(value);
    case 'count':
      return String(Math.round(value) || 0).replace(/\B(?=(\d{3})+(?!\d))/g, THIN_SPACE);
  }
}

/** humanBytes, with fractions of a byte (a slow rate) cut to one decimal: humanBytes would print them in full. */
function formatBytes(value: number): string {
  return humanBytes(Math.abs(value) < 1024 ? Math.round(value * 10) / 10 || 0 : value);
}

/** Seconds below a minute (two decimals below 1 s, one below 10 s), minutes below an hour (one decimal), then hours; trailing zeros dropped. */
function formatSeconds(value: number): string {
  const size = Math.abs(value);
  if (size < 59.5) return `${trimZeros(value.toFixed(size < 1 ? 2 : size < 10 ? 1 : 0))} s`;
  if (size < 3597) return `${trimZeros((value / 60).toFixed(1))} min`;
  const hours = value / 3600;
  return `${trimZeros(hours.toFixed(Math.abs(hours) < 100 ? 1 : 0))} h`;
}

/** The smallest 1, 2, 2.5, 5 × 10^k at least `rough`. */
function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const residual = rough / magnitude;
  const factor = [1, 2, 2.5, 5, 10].find((m) => residual <= m * (1 + 1e-9)) ?? 10;
  return factor * magnitude;
}

/** niceTicks with a floor on the step (1 for whole bytes and counts). */
function ticksFrom(min: number, max: number, count: number, minStep: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  const low = Math.min(min, max);
  let high = Math.max(min, max);
  if (low === high) high = low + (low === 0 ? 1 : Math.abs(low));
  const intervals = Math.max(1, Math.round(Number.isFinite(count) ? count : Y_TICK_COUNT) - 1);
  const step = Math.max(niceStep((high - low) / intervals), minStep);
  if (!Number.isFinite(step) || step <= 0) return [];
  const first = Math.floor(low / step + 1e-9);
  let last = Math.ceil(high / step - 1e-9);
  if (last <= first) last = first + 1;
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(clean(i * step));
  return ticks;
}

/**
 * "Nice" round tick values (1, 2, 2.5, 5 × 10^k steps) covering [min, max], about `count` of them.
 * The first tick is at or below min, the last at or above max; min === max covers [min, min + |min|]
 * ([0, 1] for 0). Not-finite bounds give no ticks.
 */
export function niceTicks(min: number, max: number, count: number): number[] {
  return ticksFrom(min, max, count, 0);
}

/**
 * Linear ticks for values in a unit, round in the unit they are shown in: bytes in the binary unit
 * of the larger bound (0, 1 TiB, 2 TiB rather than steps of 10^12 bytes), never less than a byte or
 * a count apart; seconds, minutes or hours as formatValue writes the larger bound.
 */
export function valueTicks(min: number, max: number, count: number, unit: ChartUnit): number[] {
  const size = Math.max(Math.abs(min), Math.abs(max));
  let scale = 1;
  if (unit === 'bytes' || unit === 'bytesPerSecond') {
    while (size / scale >= 1024 && scale < 1024 ** 5) scale *= 1024;
  } else if (unit === 'seconds') {
    scale = size < 59.5 ? 1 : size < 3597 ? 60 : 3600;
  }
  const minStep = unit === 'seconds' ? 0 : 1 / scale;
  // A power of two scales exactly; 60 and 3600 may leave float noise.
  return ticksFrom(min / scale, max / scale, count, minStep).map((t) => (unit === 'seconds' ? clean(t * scale) : t * scale));
}

/** Round values a log axis may have ticks at, ascending: 1 B, 32 B, 1 KiB, 32 KiB…; 1 ms … 1 s, 10 s, 1 min, 10 min, 1 h, 10 h…; 1, 10, 100… */
function logLadder(unit: ChartUnit): number[] {
  switch (unit) {
    case 'bytes':
    case 'bytesPerSecond':
      return Array.from({ length: 15 }, (_, i) => 32 ** i);
    case 'seconds':
      return [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 36000, 360000, 3600000, 36000000, 360000000];
    case 'count':
      return Array.from({ length: 22 }, (_, i) => 10 ** i);
  }
}

/** Log ticks for values in a unit: rungs of logLadder from one at or below the smallest positive value to one at or above the largest, every k-th rung when there are too many. */
function logTicks(values: readonly number[], count: number, unit: ChartUnit): number[] {
  const ladder = logLadder(unit);
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v > 0) {
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
  }
  if (high === -Infinity) return [ladder[0]!, ladder[1]!];
  let lo = 0;
  while (lo + 1 < ladder.length && ladder[lo + 1]! <= low) lo++;
  let hi = ladder.length - 1;
  while (hi - 1 >= 0 && ladder[hi - 1]! >= high) hi--;
  if (hi <= lo) hi = Math.min(lo + 1, ladder.length - 1);
  if (hi <= lo) lo = hi - 1;
  const stride = Math.max(1, Math.ceil((hi - lo) / Math.max(1, count - 1)));
  lo -= lo % stride;
  const ticks: number[] = [];
  let i = lo;
  for (; i < hi; i += stride) ticks.push(ladder[i]!);
  ticks.push(ladder[Math.min(i, ladder.length - 1)]!);
  return ticks;
}

/** A value axis: its ticks, whose first and last are the ends of its domain. */
interface ValueAxis {
  ticks: number[];
  log: boolean;
}

function valueAxis(values: readonly number[], unit: ChartUnit, log: boolean): ValueAxis {
  if (log) return { ticks: logTicks(values, Y_TICK_COUNT, unit), log };
  const [min, max] = extent(values);
  return { ticks: valueTicks(Math.min(0, min), Math.max(0, max), Y_TICK_COUNT, unit), log };
}

/** The y of a value between `top` (last tick) and `bottom` (first tick); values outside the domain sit on its ends. */
function project(axis: ValueAxis, value: number, top: number, bottom: number): number {
  const low = axis.ticks[0]!;
  const high = axis.ticks[axis.ticks.length - 1]!;
  const v = Math.min(high, Math.max(low, value));
  const share = axis.log ? Math.log(v / low) / Math.log(high / low) : (v - low) / (high - low);
  return bottom - share * (bottom - top);
}

function extent(values: readonly number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? [min, max] : [0, 0];
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** 1970-01-05, the first Monday after the epoch: week ticks fall on Mondays. */
const FIRST_MONDAY = 4 * DAY;
const FIXED_INTERVALS = [SECOND, 5 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];
const MONTH_INTERVALS = [1, 2, 3, 6];
/** The largest |ms| a Date holds. */
const MAX_DATE = 8.64e15;

const pad2 = (value: number): string => String(value).padStart(2, '0');
const yearOf = (date: Date): string => String(date.getUTCFullYear()).padStart(4, '0');

/**
 * Time-axis ticks at round boundaries (minutes, hours, days, months, years, picked from the span),
 * labels in UTC, e.g. `12-01 03:00` or `2026-12-01` or `2026-12`. The interval is the shortest of
 * 1/5/15/30 s, 1/5/15/30 min, 1/3/6/12 h, 1/2 days, a week (Mondays), 1/2/3/6 months or a round
 * number of years that makes at most `count` intervals of the span; the ticks are the boundaries
 * inside [min, max]. Labels: `03:00:15` under a minute, `12-01 03:00` under a day, `2026-12-01`
 * for days and weeks, `2026-12` for months, `2026` for years.
 */
export function timeTicks(min: number, max: number, count: number): Array<{ time: number; label: string }> {
  if (!Number.isFinite(min) || !Number.isFinite(max) || Math.abs(min) > MAX_DATE || Math.abs(max) > MAX_DATE) return [];
  const low = Math.min(min, max);
  const high = Math.max(min, max);
  const span = high - low;
  const intervals = Math.max(1, Number.isFinite(count) ? Math.floor(count) : 1);
  const fixed = FIXED_INTERVALS.find((ms) => span / ms <= intervals);
  if (fixed !== undefined) {
    const offset = fixed === 7 * DAY ? FIRST_MONDAY : 0;
    const label = (date: Date): string => {
      const time = `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}`;
      const day = `${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}`;
      if (fixed < MINUTE) return `${time}:${pad2(date.getUTCSeconds())}`;
      return fixed < DAY ? `${day} ${time}` : `${yearOf(date)}-${day}`;
    };
    const ticks: Array<{ time: number; label: string }> = [];
    for (let t = Math.ceil((low - offset) / fixed) * fixed + offset; t <= high; t += fixed) ticks.push({ time: t, label: label(new Date(t)) });
    return ticks;
  }
  const months = MONTH_INTERVALS.find((m) => span / (m * 30.44 * DAY) <= intervals);
  const start = new Date(low);
  if (months !== undefined) {
    const ticks: Array<{ time: number; label: string }> = [];
    let month = Math.ceil((start.getUTCFullYear() * 12 + start.getUTCMonth()) / months) * months;
    for (;;) {
      const t = Date.UTC(Math.floor(month / 12), ((month % 12) + 12) % 12, 1);
      if (t > high) break;
      if (t >= low) ticks.push({ time: t, label: `${yearOf(new Date(t))}-${pad2(new Date(t).getUTCMonth() + 1)}` });
      month += months;
    }
    return ticks;
  }
  // 1, 2, 5, 10, 20, 50… years.
  let step = 1;
  while (span / (365.25 * DAY) / step > intervals) step *= String(step).startsWith('2') ? 2.5 : 2;
  const ticks: Array<{ time: number; label: string }> = [];
  for (let year = Math.ceil(start.getUTCFullYear() / step) * step; ; year += step) {
    const date = new Date(Date.UTC(2000, 0, 1));
    date.setUTCFullYear(year);
    const t = date.getTime();
    if (!(t <= high)) break;
    if (t >= low) ticks.push({ time: t, label: yearOf(date) });
  }
  return ticks;
}

/** The x domain: the times' extent, or a day centred on a single time. */
function timeDomain(times: readonly number[]): [number, number] {
  const [min, max] = extent(times);
  return min === max ? [min - 12 * HOUR, max + 12 * HOUR] : [min, max];
}

function checkSize(name: 'width' | 'height', value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new RangeError(`Expected \`${name}\` to be a number from ${min} up, got ${String(value)}`);
  return value;
}

function checkStatus(status: RunStatus, id: string): RunStatus {
  if (!STATUSES.includes(status)) throw new TypeError(`Run ${JSON.stringify(id)} has status ${JSON.stringify(status)}; expected one of ${STATUSES.join(', ')}`);
  return status;
}

/** An element with a `<title>` child when the title is given. */
function withTitle(tag: string, attributes: string, title: string | undefined, inner = ''): string {
  const content = (title === undefined ? '' : `<title>${escapeXml(title)}</title>`) + inner;
  return content === '' ? `<${tag} ${attributes}/>` : `<${tag} ${attributes}>${content}</${tag}>`;
}

/**
 * A run's marker centred on (x, y), with class `marker status-<status>` (`swatch status-<status>` in
 * a legend): ok a small circle that takes its fill from the enclosing series group, warnings a
 * larger amber triangle, partial a larger red diamond, incomplete a red ✕ of two lines.
 */
function marker(status: RunStatus, x: number, y: number, attributes: string, title: string | undefined, okRadius = 2.5, className = 'marker'): string {
  const head = `class="${className} status-${status}"${attributes}`;
  switch (status) {
    case 'ok':
      return withTitle('circle', `${head} cx="${n(x)}" cy="${n(y)}" r="${okRadius}"`, title);
    case 'warnings':
      return withTitle('path', `${head} fill="${STATUS_COLOURS.warnings}" stroke="${AMBER_EDGE}" stroke-width="0.8" d="M${n(x)} ${n(y - 6)}l5.2 9h-10.4z"`, title);
    case 'partial':
      return withTitle('path', `${head} fill="${STATUS_COLOURS.partial}" stroke="#FFFFFF" stroke-width="0.8" d="M${n(x)} ${n(y - 5.5)}l5.5 5.5-5.5 5.5-5.5-5.5z"`, title);
    case 'incomplete': {
      const [l, r, t, b] = [n(x - 4.5), n(x + 4.5), n(y - 4.5), n(y + 4.5)];
      const lines = `<line x1="${l}" y1="${t}" x2="${r}" y2="${b}"/><line x1="${l}" y1="${b}" x2="${r}" y2="${t}"/>`;
      return withTitle('g', `${head} stroke="${STATUS_COLOURS.incomplete}" stroke-width="2" stroke-linecap="round"`, title, lines);
    }
  }
}

/** One legend entry: a swatch drawn left of the text around (x, y) (y is the swatch's vertical centre). */
interface LegendEntry {
  className: string;
  text: string;
  /** Tooltip with the whole text when the shown text is cut. */
  title?: string;
  swatch: (x: number, y: number) => string;
}

const SWATCH_WIDTH = 18;

/** Legend entries laid out in rows across the width; returns the markup and the height it takes. */
function legend(entries: readonly LegendEntry[], width: number, top: number): { markup: string; height: number } {
  if (entries.length === 0) return { markup: '', height: 0 };
  const items: string[] = [];
  let x = INNER_PAD;
  let row = 0;
  for (const entry of entries) {
    const itemWidth = SWATCH_WIDTH + entry.text.length * CHAR_WIDTH + 14;
    if (x + itemWidth > width - INNER_PAD && x > INNER_PAD) {
      row++;
      x = INNER_PAD;
    }
    const middle = top + row * LEGEND_ROW + LEGEND_ROW / 2;
    const swatch = entry.swatch(x, middle);
    const text = `<text x="${n(x + SWATCH_WIDTH)}" y="${n(middle + 4)}">${escapeXml(entry.text)}</text>`;
    items.push(withTitle('g', `class="legend-item ${entry.className}"`, entry.title, swatch + text));
    x += itemWidth;
  }
  return { markup: `<g class="legend" fill="${TEXT_COLOUR}">${items.join('')}</g>`, height: (row + 1) * LEGEND_ROW };
}

/** A name cut to the legend's width, with the whole name as its tooltip when cut. */
function legendName(name: string): { text: string; title?: string } {
  const chars = Array.from(name);
  return chars.length <= LEGEND_NAME_CHARS ? { text: name } : { text: `${chars.slice(0, LEGEND_NAME_CHARS - 1).join('')}…`, title: name };
}

function seriesClass(index: number): string {
  return `series-${index % SERIES_COLOURS.length}`;
}

function seriesColour(index: number): string {
  return SERIES_COLOURS[index % SERIES_COLOURS.length]!;
}

function seriesDash(index: number): string {
  const dash = SERIES_DASHES[Math.floor(index / SERIES_COLOURS.length) % SERIES_DASHES.length]!;
  return dash === '' ? '' : ` stroke-dasharray="${dash}"`;
}

/** Legend entries for the statuses other than ok that occur, in a fixed order. */
function statusEntries(statuses: ReadonlySet<RunStatus>): LegendEntry[] {
  return STATUSES.filter((s) => s !== 'ok' && statuses.has(s)).map((s) => ({
    className: `legend-status status-${s}`,
    text: s,
    swatch: (x, y) => marker(s, x + 7, y, '', undefined, 2.5, 'swatch'),
  }));
}

/** "+N more" after the first LEGEND_MAX_SERIES entries. */
function moreEntry(total: number): LegendEntry[] {
  return total > LEGEND_MAX_SERIES ? [{ className: 'legend-more', text: `+${total - LEGEND_MAX_SERIES} more`, swatch: () => '' }] : [];
}

/**
 * The opening tag. A `fluid` chart scales to its container's width (its text with it); a `fixed`
 * one (the status strip, the empty strip) keeps its size in px and only shrinks to fit.
 */
function svgOpen(width: number, height: number, title: string, sizing: 'fluid' | 'fixed'): string {
  const size = sizing === 'fluid' ? 'style="width:100%;height:auto"' : `width="${n(width)}" height="${n(height)}" style="max-width:100%;height:auto"`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n(width)} ${n(height)}" ${size} role="img" aria-label="${escapeXml(title)}"` +
    ` font-family="system-ui, sans-serif" font-size="${FONT_SIZE}">`
  );
}

function figure(key: string, title: string, svg: string, className = 'chart'): string {
  return `<figure class="${className}" data-chart="${escapeXml(key)}">${svg}<figcaption>${escapeXml(title)}</figcaption></figure>`;
}

/** The plot area of a chart, in viewBox coordinates. */
interface PlotArea {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The empty frame and a "no data" text, for a chart with nothing to draw. */
function noData(key: string, title: string, width: number, height: number, className = 'chart'): string {
  const plot = { left: INNER_PAD, right: width - INNER_PAD, top: INNER_PAD, bottom: height - INNER_PAD };
  const svg =
    svgOpen(width, height, title, className === 'chart' ? 'fluid' : 'fixed') +
    `<rect class="frame" x="${n(plot.left)}" y="${n(plot.top)}" width="${n(plot.right - plot.left)}" height="${n(plot.bottom - plot.top)}" fill="none" stroke="${GRID_COLOUR}"/>` +
    `<text class="no-data" x="${n(width / 2)}" y="${n(height / 2 + 4)}" text-anchor="middle" fill="${TEXT_COLOUR}">no data</text></svg>`;
  return figure(key, title, svg, className);
}

/** Grid lines and labels of the value axis, and the labels and tick marks of the time axis under the plot. */
function axes(
  plot: PlotArea,
  width: number,
  yAxis: ValueAxis,
  unit: ChartUnit,
  yOf: (v: number) => number,
  xTicks: Array<{ time: number; label: string }>,
  xOf: (t: number) => number,
): string {
  // Horizontal lines on half pixels, so that a 1-unit line is crisp at the viewBox's own scale.
  const crisp = (y: number): number => Math.floor(y) + 0.5;
  const grid = yAxis.ticks.map((t) => `M${n(plot.left)} ${n(crisp(yOf(t)))}H${n(plot.right)}`).join('');
  const yLabels = yAxis.ticks.map((t) => `<text x="${n(plot.left - 6)}" y="${n(yOf(t) + 4)}">${escapeXml(formatValue(t, unit))}</text>`).join('');
  const xLabels = xTicks
    .map((tick) => {
      const half = (tick.label.length * CHAR_WIDTH) / 2;
      const x = Math.min(width - half - 2, Math.max(half + 2, xOf(tick.time)));
      return `<text x="${n(x)}" y="${n(plot.bottom + 17)}">${escapeXml(tick.label)}</text>`;
    })
    .join('');
  const marks = xTicks.map((tick) => `M${n(xOf(tick.time))} ${n(plot.bottom)}v4`).join('');
  return (
    `<path class="grid" fill="none" stroke="${GRID_COLOUR}" d="${grid}"/>` +
    (marks === '' ? '' : `<path class="axis x-ticks" fill="none" stroke="${AXIS_COLOUR}" d="${marks}"/>`) +
    `<line class="axis baseline" x1="${n(plot.left)}" y1="${n(crisp(plot.bottom))}" x2="${n(plot.right)}" y2="${n(crisp(plot.bottom))}" stroke="${AXIS_COLOUR}"/>` +
    `<g class="axis y-axis" fill="${TEXT_COLOUR}" text-anchor="end">${yLabels}</g>` +
    `<g class="axis x-axis" fill="${TEXT_COLOUR}" text-anchor="middle">${xLabels}</g>`
  );
}

/** Space left of the plot for the longest value label. */
function leftMargin(yAxis: ValueAxis, unit: ChartUnit): number {
  let longest = 0;
  for (const t of yAxis.ticks) longest = Math.max(longest, formatValue(t, unit).length);
  return Math.max(36, longest * CHAR_WIDTH + 14);
}

const BOTTOM_MARGIN = 24;

/** The layout shared by the line and bar charts: the legend on top, then the plot; the height grows when the plot would be too short. */
function layout(width: number, height: number, left: number, entries: readonly LegendEntry[]): { plot: PlotArea; height: number; legend: string } {
  const { markup, height: legendHeight } = legend(entries, width, 4);
  const top = 4 + legendHeight + 10;
  const total = Math.max(height, top + MIN_PLOT_HEIGHT + BOTTOM_MARGIN);
  return { plot: { left, right: width - 12, top, bottom: total - BOTTOM_MARGIN }, height: total, legend: markup };
}

/**
 * A polyline's points. When there are more points than pixel columns, each column keeps only its
 * lowest and highest point (in time order), which draws the same line at that resolution: at most
 * two points per column, however many runs there are.
 */
function polylinePoints(xy: ReadonlyArray<readonly [number, number]>, columns: number): string {
  if (xy.length <= columns) return xy.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
  const kept: Array<readonly [number, number]> = [];
  let start = 0;
  while (start < xy.length) {
    const column = Math.round(xy[start]![0]);
    let end = start;
    let lowest = start;
    let highest = start;
    while (end + 1 < xy.length && Math.round(xy[end + 1]![0]) === column) {
      end++;
      if (xy[end]![1] < xy[lowest]![1]) lowest = end;
      if (xy[end]![1] > xy[highest]![1]) highest = end;
    }
    kept.push(xy[Math.min(lowest, highest)]!);
    if (lowest !== highest) kept.push(xy[Math.max(lowest, highest)]!);
    start = end + 1;
  }
  return kept.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
}

/** One chart of a value over time, a line + markers per series. Returns `<figure class="chart" data-chart="${key}">…<svg …>…</svg><figcaption>…</figcaption></figure>` */
export function lineChart(options: LineChartOptions): string {
  const width = checkSize('width', options.width, DEFAULT_WIDTH, MIN_WIDTH);
  const height = checkSize('height', options.height, DEFAULT_HEIGHT, MIN_HEIGHT);
  const { key, title, unit } = options;
  const series = options.series.map((s, index) => ({
    name: s.name,
    index,
    points: s.points.filter((p) => Number.isFinite(p.time) && Number.isFinite(p.value)).sort((a, b) => a.time - b.time),
  }));
  const values: number[] = [];
  const times: number[] = [];
  const statuses = new Set<RunStatus>();
  for (const s of series) {
    for (const p of s.points) {
      values.push(p.value);
      times.push(p.time);
      statuses.add(checkStatus(p.status, p.id));
    }
  }
  if (values.length === 0) return noData(key, title, width, height);

  const yAxis = valueAxis(values, unit, options.logScale ?? false);
  const entries: LegendEntry[] = [
    ...series.slice(0, LEGEND_MAX_SERIES).map((s): LegendEntry => ({
      className: seriesClass(s.index),
      ...legendName(s.name),
      swatch: (x, y) =>
        `<line x1="${n(x)}" y1="${n(y)}" x2="${n(x + 14)}" y2="${n(y)}" stroke="${seriesColour(s.index)}" stroke-width="2"${seriesDash(s.index)}/>` +
        `<circle cx="${n(x + 7)}" cy="${n(y)}" r="2.5" fill="${seriesColour(s.index)}"/>`,
    })),
    ...moreEntry(series.length),
    ...statusEntries(statuses),
  ];
  const frame = layout(width, height, leftMargin(yAxis, unit), entries);
  const { plot } = frame;
  const [t0, t1] = timeDomain(times);
  const xOf = (t: number): number => plot.left + INNER_PAD + ((t - t0) / (t1 - t0)) * (plot.right - plot.left - 2 * INNER_PAD);
  const yOf = (v: number): number => project(yAxis, v, plot.top, plot.bottom);
  const xTicks = timeTicks(t0, t1, Math.max(2, Math.floor((plot.right - plot.left) / X_LABEL_SPACING)));
  const columns = Math.floor(plot.right - plot.left);

  const lines: string[] = [];
  const problems: string[] = [];
  for (const s of series) {
    if (s.points.length === 0) continue;
    const okRadius = s.points.length > columns ? 1.5 : 2.5;
    const xy = s.points.map((p) => [xOf(p.time), yOf(p.value)] as const);
    const colour = seriesColour(s.index);
    const okMarkers = s.points.map((p, i) => (p.status === 'ok' ? marker('ok', xy[i]![0], xy[i]![1], ` data-id="${escapeXml(p.id)}"`, p.label, okRadius) : '')).join('');
    s.points.forEach((p, i) => {
      if (p.status !== 'ok') problems.push(marker(p.status, xy[i]![0], xy[i]![1], ` data-id="${escapeXml(p.id)}"`, p.label));
    });
    lines.push(
      `<g class="series ${seriesClass(s.index)}" fill="${colour}">` +
        `<polyline class="line" fill="none" stroke="${colour}" stroke-width="1.5" stroke-linejoin="round"${seriesDash(s.index)} points="${polylinePoints(xy, columns)}"/>` +
        `${okMarkers}</g>`,
    );
  }

  const svg =
    svgOpen(width, frame.height, title, 'fluid') +
    frame.legend +
    axes(plot, width, yAxis, unit, yOf, xTicks, xOf) +
    lines.join('') +
    (problems.length === 0 ? '' : `<g class="problems">${problems.join('')}</g>`) +
    '</svg>';
  return figure(key, title, svg);
}

const CLASS_NAME = /^-?[A-Za-z_][\w-]*$/;

/** Bars over time, each stacked from `parts` (e.g. bytes stored new, bytes reused), one CSS class per part. */
export function stackedBarChart(options: StackedBarChartOptions): string {
  const width = checkSize('width', options.width, DEFAULT_WIDTH, MIN_WIDTH);
  const height = checkSize('height', options.height, DEFAULT_HEIGHT, MIN_HEIGHT);
  const { key, title, unit, parts } = options;
  for (const part of parts) {
    if (!CLASS_NAME.test(part.className))
      throw new TypeError(`Expected the className of part ${JSON.stringify(part.name)} to be one CSS class name, got ${JSON.stringify(part.className)}`);
  }
  const bars = options.bars
    .filter((bar) => Number.isFinite(bar.time))
    .map((bar) => ({ ...bar, status: checkStatus(bar.status, bar.id), values: parts.map((_, i) => Math.max(0, Number.isFinite(bar.parts[i]) ? bar.parts[i]! : 0)) }))
    .sort((a, b) => a.time - b.time);
  if (bars.length === 0 || parts.length === 0) return noData(key, title, width, height);

  const totals = bars.map((bar) => bar.values.reduce((sum, v) => sum + v, 0));
  const yAxis = valueAxis(totals, unit, false);
  const statuses = new Set(bars.map((bar) => bar.status));
  const entries: LegendEntry[] = [
    ...parts.map((part, i): LegendEntry => ({
      className: `part-${i} ${part.className}`,
      ...legendName(part.name),
      swatch: (x, y) => `<rect x="${n(x + 2)}" y="${n(y - 5)}" width="10" height="10" fill="${seriesColour(i)}"/>`,
    })),
    ...statusEntries(statuses),
  ];
  const frame = layout(width, height, leftMargin(yAxis, unit), entries);
  const { plot } = frame;
  const [t0, t1] = timeDomain(bars.map((bar) => bar.time));
  const pad = INNER_PAD + MAX_BAR_WIDTH / 2;
  const xOf = (t: number): number => plot.left + pad + ((t - t0) / (t1 - t0)) * (plot.right - plot.left - 2 * pad);
  const yOf = (v: number): number => project(yAxis, v, plot.top, plot.bottom);
  const xTicks = timeTicks(t0, t1, Math.max(2, Math.floor((plot.right - plot.left) / X_LABEL_SPACING)));

  const xs = bars.map((bar) => xOf(bar.time));
  let gap = Infinity;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[i - 1]!) gap = Math.min(gap, xs[i]! - xs[i - 1]!);
  const barWidth = Math.min(MAX_BAR_WIDTH, Math.max(0.5, gap * 0.8));

  const layers = parts.map(() => [] as string[]);
  const problems: string[] = [];
  const hits: string[] = [];
  bars.forEach((bar, b) => {
    const x = xs[b]! - barWidth / 2;
    let sum = 0;
    bar.values.forEach((value, i) => {
      const bottom = yOf(sum);
      sum += value;
      const top = yOf(sum);
      if (bottom - top >= 0.05) layers[i]!.push(`<rect x="${n(x)}" y="${n(top)}" width="${n(barWidth)}" height="${n(bottom - top)}"/>`);
    });
    const attributes = ` data-id="${escapeXml(bar.id)}"`;
    if (bar.status !== 'ok') problems.push(marker(bar.status, xs[b]!, yOf(sum) - 9, attributes, undefined));
    hits.push(
      withTitle('rect', `class="bar status-${bar.status}"${attributes} x="${n(x)}" y="${n(plot.top)}" width="${n(barWidth)}" height="${n(plot.bottom - plot.top)}"`, bar.label),
    );
  });

  const svg =
    svgOpen(width, frame.height, title, 'fluid') +
    frame.legend +
    axes(plot, width, yAxis, unit, yOf, xTicks, xOf) +
    parts.map((part, i) => `<g class="part part-${i} ${part.className}" fill="${seriesColour(i)}">${layers[i]!.join('')}</g>`).join('') +
    (problems.length === 0 ? '' : `<g class="problems">${problems.join('')}</g>`) +
    // Transparent columns on top carry the tooltip and the id of each bar, whatever part the pointer is over.
    `<g class="bars" fill="#000000" fill-opacity="0">${hits.join('')}</g>` +
    '</svg>';
  return figure(key, title, svg);
}

/** A square of the strip at (x, y) (class `run`, or `swatch` in the key), filled with the status colour; an incomplete run's is also crossed with a white ✕. */
function stripSquare(status: RunStatus, x: number, y: number, attributes: string, title: string | undefined, className = 'run'): string {
  const head = `class="${className} status-${status}"${attributes}`;
  const square = `x="${n(x)}" y="${n(y)}" width="${STRIP_SQUARE}" height="${STRIP_SQUARE}" rx="1.5" fill="${STATUS_COLOURS[status]}"`;
  if (status !== 'incomplete') return withTitle('rect', `${head} ${square}`, title);
  const cross = `<path d="M${n(x + 2.5)} ${n(y + 2.5)}l5 5m0-5l-5 5" stroke="#FFFFFF" stroke-width="1.5" stroke-linecap="round"/>`;
  return withTitle('g', head, title, `<rect ${square}/>${cross}`);
}

/** A row of small squares, one per run in time order, coloured by status (like a CI history strip), each with a <title> and data-id. */
export function statusStrip(options: StatusStripOptions): string {
  const { key, title, runs } = options;
  const className = 'chart status-strip';
  if (runs.length === 0) return noData(key, title, 240, 40, className);
  const counts = new Map<RunStatus, number>();
  for (const run of runs) counts.set(checkStatus(run.status, run.id), (counts.get(run.status) ?? 0) + 1);
  const rows = Math.ceil(runs.length / STRIP_PER_ROW);
  const squares = runs.map((run, i) =>
    stripSquare(run.status, 1 + (i % STRIP_PER_ROW) * STRIP_CELL, 1 + Math.floor(i / STRIP_PER_ROW) * STRIP_CELL, ` data-id="${escapeXml(run.id)}"`, run.label),
  );
  // Under the squares, a key: one square and a count per status that occurs.
  const keyTop = rows * STRIP_CELL + 6;
  let x = 1;
  const keyItems: string[] = [];
  for (const status of STATUSES) {
    const count = counts.get(status);
    if (count === undefined) continue;
    const text = `${status} ${formatValue(count, 'count')}`;
    keyItems.push(
      `<g class="legend-item legend-status status-${status}">${stripSquare(status, x, keyTop, '', undefined, 'swatch')}<text x="${n(x + 14)}" y="${n(keyTop + 9)}">${escapeXml(text)}</text></g>`,
    );
    x += 14 + text.length * CHAR_WIDTH + 12;
  }
  const width = Math.max(Math.min(runs.length, STRIP_PER_ROW) * STRIP_CELL + 1, x);
  const height = keyTop + STRIP_SQUARE + 4;
  const svg = svgOpen(width, height, title, 'fixed') + `<g class="runs">${squares.join('')}</g>` + `<g class="legend" fill="${TEXT_COLOUR}">${keyItems.join('')}</g></svg>`;
  return figure(key, title, svg, className);
}
