// Counted nouns for messages: "1 entry", "2 entries", "0 files".

/** `n` and the noun, singular when n is 1; the plural defaults to noun + "s". */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** `counted` for "entry"/"entries", the noun most messages count. */
export function entries(n: number): string {
  return counted(n, 'entry', 'entries');
}
