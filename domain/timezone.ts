const known = new Map<string, boolean>();

/** True when the runtime's time-zone database knows this IANA zone (e.g. `Europe/Berlin`, `Asia/Kolkata`). */
export function isKnownTimeZone(zone: string): boolean {
  let answer = known.get(zone);
  if (answer === undefined) {
    answer = check(zone);
    if (known.size < 10_000) known.set(zone, answer); // bounded: bad input must not grow it without limit
  }
  return answer;
}

function check(zone: string): boolean {
  if (!zone.includes('/') && zone !== 'UTC') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
