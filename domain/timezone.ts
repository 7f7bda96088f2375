/** True when the runtime's time-zone database knows this IANA zone (e.g. `Europe/Berlin`, `Asia/Kolkata`). */
export function isKnownTimeZone(zone: string): boolean {
  if (!zone.includes('/') && zone !== 'UTC') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
