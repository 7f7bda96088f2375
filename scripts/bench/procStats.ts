// Memory of a running process, from Linux's /proc/<pid>/status: VmHWM (peak resident set, "high water mark") and
// VmRSS (resident now). Linux only; elsewhere the figures are undefined.
import fs from 'node:fs';

const MiB = 1024 * 1024;

export interface ProcMemory {
  /** Peak resident set size since the process started (VmHWM), MiB. */
  peakRssMiB: number;
  /** Resident set size now (VmRSS), MiB. */
  rssMiB: number;
}

/** The kB value of one `Name:   1234 kB` line of /proc/<pid>/status, in bytes; undefined when absent. */
function statusField(status: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** VmHWM and VmRSS of `pid` in MiB (one decimal), or undefined when /proc has no such process. */
export function procMemory(pid: number): ProcMemory | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const hwm = statusField(status, 'VmHWM');
  const rss = statusField(status, 'VmRSS');
  if (hwm === undefined || rss === undefined) return undefined;
  return { peakRssMiB: round1(hwm / MiB), rssMiB: round1(rss / MiB) };
}

/** CPU seconds (user + system) `pid` has used so far, from /proc/<pid>/stat; undefined when it is gone. */
export function procCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start at ")"; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? round1(ticks / CLOCK_TICKS) : undefined;
}

/** USER_HZ: 100 on every Linux Node supports (sysconf(_SC_CLK_TCK) is not reachable from Node). */
const CLOCK_TICKS = 100;

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
