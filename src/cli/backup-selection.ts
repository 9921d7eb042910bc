// What a backup reads, from files the user names: --exclude-file patterns and --files-from paths (restic's flags).

import fs from 'node:fs/promises';
import path from 'node:path';
import { CassetteError, messageOf } from '../errors.js';
import { parsePatternFile } from '../path-pattern.js';

export interface BackupSelectionFlags {
  excludeFile?: string[];
  filesFrom?: string[];
  filesFromVerbatim?: string[];
  filesFromRaw?: string[];
}

/** How a --files-from list is split into paths. */
export type FilesFromFormat = 'lines' | 'verbatim' | 'raw';

/**
 * The paths of a --files-from list. `lines`: one a line, blanks around each trimmed, blank lines
 * and lines starting with `#` skipped. `verbatim`: one a line exactly as written, empty lines
 * skipped. `raw`: separated by NUL bytes (`find -print0`), empty ones skipped.
 */
export function parseFilesFrom(text: string, format: FilesFromFormat): string[] {
  if (format === 'raw') return text.split('\0').filter((p) => p !== '');
  const lines = text.split('\n');
  if (format === 'verbatim') return lines.filter((line) => line !== '');
  return lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

/** The patterns of every --exclude-file, in order. */
export async function readExcludeFiles(files: readonly string[]): Promise<string[]> {
  const patterns: string[] = [];
  for (const file of files) patterns.push(...parsePatternFile(await readList('--exclude-file', file)));
  return patterns;
}

/**
 * The absolute paths every --files-from, --files-from-verbatim and --files-from-raw list names
 * (relative ones resolved against the working directory). A listed path that does not exist is
 * a usage error naming it and its list; with `root` (backup --root), it is looked for under it.
 */
export async function readFilesFrom(flags: BackupSelectionFlags, root?: string): Promise<string[]> {
  const lists: Array<[string, FilesFromFormat, readonly string[]]> = [
    ['--files-from', 'lines', flags.filesFrom ?? []],
    ['--files-from-verbatim', 'verbatim', flags.filesFromVerbatim ?? []],
    ['--files-from-raw', 'raw', flags.filesFromRaw ?? []],
  ];
  const paths: string[] = [];
  for (const [flag, format, files] of lists) {
    for (const file of files) {
      const listed = parseFilesFrom(await readList(flag, file), format);
      if (listed.length === 0) throw new CassetteError('E_USAGE', `${flag} ${file} lists no path`);
      for (const entry of listed) {
        const resolved = path.resolve(entry);
        try {
          await fs.lstat(root ? path.resolve(root, '.' + resolved) : resolved);
        } catch (error) {
          throw new CassetteError('E_USAGE', `${flag} ${file} lists ${JSON.stringify(entry)}, which cannot be read: ${messageOf(error)}`, { cause: error });
        }
        paths.push(resolved);
      }
    }
  }
  return paths;
}

/** A list file's text; `-` is standard input. */
async function readList(flag: string, file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CassetteError('E_USAGE', `cannot read ${flag} ${file}: ${messageOf(error)}`, { cause: error });
  }
}
