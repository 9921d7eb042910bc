// The `cassette restore … --include … --stdout` command that gets one file back, as the report shows it for each file.
//
// The page builds these commands in the browser for the entries it lists, from the source text of
// these three functions (report-html.ts embeds them): each refers to nothing outside this module's
// three, so that the page and `--json` give the same command.

/** The path as a pattern that matches it alone: every glob metacharacter made literal with `\` (docs: Patterns). */
export function escapeGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@|]/g, (c) => '\\' + c);
}

/** `text` as one word for a POSIX shell: bare when it holds only safe characters, else in single quotes. */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_/.:@%+=,-]+$/.test(text)) return text;
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

/** The command that writes the file `path` of `artifact` in snapshot `id` of `repo` to standard output. */
export function restoreCommand(repo: string, id: string, artifact: string, path: string): string {
  return `cassette restore ${id} --include ${shellQuote(escapeGlob(`${artifact}/${path}`))} --stdout --repo ${shellQuote(repo)}`;
}
