// The `snapshots` table: fixed columns, then tags and artifact names cut to fit the width (a terminal's, else 120).

import { humanBytes, humanDuration } from './render.js';

/** What one line of the table shows. */
export interface SnapshotTableRow {
  id: string;
  /** ISO time. */
  time: string;
  host: string;
  bytesRead: number;
  storedBytes: number;
  /** Undefined for a version-1 snapshot, which knows no reuse (shown as '-'). */
  reusedBytes: number | undefined;
  ratio: number;
  durationSeconds: number;
  tags: readonly string[];
  /** Artifact names, or `(encrypted: N)` for a sealed snapshot. */
  artifacts: string;
}

/** The width used when standard output is not a terminal: what a mail or a log viewer shows without wrapping. */
export const DEFAULT_TABLE_WIDTH = 120;

const HOST_WIDTH = 12;
const TAGS_WIDTH = 16;

/**
 * The table: a header line, and per snapshot its line, each at most `width` characters when the
 * fixed columns fit. Artifact names that do not fit follow on indented lines, so none is lost.
 */
export function snapshotTable(rows: readonly SnapshotTableRow[], width: number = DEFAULT_TABLE_WIDTH): { header: string; rows: string[][] } {
  const hostWidth = Math.min(HOST_WIDTH, Math.max(4, ...rows.map((r) => r.host.length)));
  const fixed = (cells: { id: string; time: string; host: string; read: string; stored: string; reused: string; ratio: string; took: string }): string =>
    `${cells.id.padEnd(23)} ${cells.time.padEnd(16)} ${cells.host.padEnd(hostWidth)} ${cells.read.padStart(8)} ${cells.stored.padStart(8)} ${cells.reused.padStart(8)} ${cells.ratio.padStart(5)} ${cells.took.padStart(8)}`;
  const header = fixed({ id: 'ID', time: 'TIME (UTC)', host: 'HOST', read: 'READ', stored: 'STORED', reused: 'REUSED', ratio: 'RATIO', took: 'TOOK' });
  // What is left for tags and artifact names; below 10 characters the line overflows rather than show nothing.
  const rest = Math.max(width - header.length - 2, 10);
  const anyTags = rows.some((r) => r.tags.length > 0);
  const tagsWidth = anyTags ? Math.min(TAGS_WIDTH, Math.floor(rest / 2) - 1, Math.max(4, ...rows.map((r) => r.tags.join(',').length))) : 0;
  const artifactsWidth = rest - (anyTags ? tagsWidth + 2 : 0);
  const tail = (tags: string, artifacts: string): string =>
    anyTags ? `  ${cut(tags, tagsWidth).padEnd(tagsWidth)}  ${cut(artifacts, artifactsWidth)}` : `  ${cut(artifacts, artifactsWidth)}`;
  const lines: string[][] = [];
  for (const row of rows) {
    const line = fixed({
      id: row.id,
      time: row.time.slice(0, 16).replace('T', ' '),
      host: cut(row.host, hostWidth),
      read: humanBytes(row.bytesRead),
      stored: humanBytes(row.storedBytes),
      reused: row.reusedBytes === undefined ? '-' : humanBytes(row.reusedBytes),
      ratio: row.ratio.toFixed(2),
      took: shortDuration(row.durationSeconds),
    });
    const [first, ...more] = wrapList(row.artifacts, artifactsWidth, width - 25);
    lines.push([(line + tail(row.tags.join(','), first ?? '')).trimEnd(), ...more.map((names) => `${''.padEnd(24)} ${names}`)]);
  }
  return { header: (header + tail('TAGS', 'ARTIFACTS')).trimEnd(), rows: lines };
}

/** A comma-separated list cut at commas (which it drops) into a first piece of at most `first` characters and further pieces of at most `next`; a name longer than a piece is cut. */
export function wrapList(list: string, first: number, next: number): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const name of list.split(',')) {
    const limit = pieces.length === 0 ? first : next;
    const joined = current ? `${current},${name}` : name;
    if (joined.length <= limit || !current) {
      current = joined;
      continue;
    }
    pieces.push(current);
    current = name;
  }
  pieces.push(current);
  return pieces.map((piece, i) => cut(piece, i === 0 ? first : next));
}

/** `text` cut to `width` characters, ending in '…' when cut. */
export function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(width - 1, 0))}…`;
}

/** A duration in at most 8 characters: `51 ms`, `12.3 s`, `4m 05s`, `3h 59m`, `12d 03h`. */
export function shortDuration(seconds: number): string {
  if (seconds < 60) return humanDuration(seconds * 1000);
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
  const hours = Math.round(seconds / 3600);
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, '0')}h`;
}
