// Sizes as people read them (binary units: KiB, MiB, GiB…), for the terminal, the report and the bench alike.
// humanBytes refers to nothing outside its body: the report's page runs its source text (report-html.ts).

/** `512 B`, `1.5 KiB`, `120 MiB`: one decimal below 100 of a unit, none from 100 up. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
