/** Parses `90`, `90s`, `15m`, `2h`, `7d` (and `0`) into minutes; undefined when the text is not a duration. */
export function parseMinutes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'm';
  return unit === 's' ? n / 60 : unit === 'm' ? n : unit === 'h' ? n * 60 : n * 24 * 60;
}
