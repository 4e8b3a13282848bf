import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid exists on this machine (signal 0 sends nothing). EPERM means it
 * exists but belongs to another user.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}

/**
 * What tells a process from a later one under the same pid: the boot's id and the process's start
 * time in clock ticks since boot (field 22 of Linux's /proc/PID/stat). Null where /proc does not
 * say (another OS, the process gone).
 */
export function processIdentity(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return startTicks && /^\d+$/.test(startTicks) ? `${boot}:${startTicks}` : null;
  } catch {
    return null;
  }
}

/**
 * Whether the process recorded as `pid` (with its `identity`, when one was recorded) still runs:
 * a pid that is alive but now names a later process (the pid reused after a crash or a reboot)
 * is not it. Without an identity on either side, a live pid counts as the process.
 */
export function isSameProcessAlive(pid: number, identity: string | undefined): boolean {
  if (!isProcessAlive(pid)) return false;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === null || now === identity;
}
