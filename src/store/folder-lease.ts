import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { isSameProcessAlive, processIdentity } from '../kernel/process-alive.js';
import type { Redis } from '../queues/connection.js';

/** Who holds a folder's lease: the value stored under its key. */
export const LeaseHolder = z.object({
  /** The Mailroom installation: an id kept in its data folder, the same across restarts. */
  instance: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** This process's life: a random mark, so a restart that gets the same pid (containers) is told apart. */
  life: z.string(),
  /** The watcher within that life: two watchers of one folder in one process stay distinct. */
  lease: z.string(),
  /** The process's `processIdentity`: a live pid that names a later process is not the holder. */
  started: z.string().optional(),
});
export type LeaseHolder = z.infer<typeof LeaseHolder>;

/** This process's life, in every lease it holds. */
const LIFE = randomBytes(8).toString('hex');
/** This process's `processIdentity`, read once: it does not change while the process lives. */
const started = processIdentity(process.pid);

/** The file in the data folder that keeps the installation's id. */
export const INSTANCE_FILE = 'mailroom-instance.json';
const InstanceFile = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/) });

/**
 * This installation's id, kept in `dataDir` (created on first use): a process that restarts
 * with the same data folder on the same host recognises the leases its previous life left.
 */
export function instanceId(dataDir: string): string {
  const file = path.join(dataDir, INSTANCE_FILE);
  try {
    const parsed = InstanceFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed.success) return parsed.data.id;
  } catch {
    // none yet, or unreadable: a new one below
  }
  const id = randomBytes(8).toString('hex');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ id } satisfies InstanceFile));
  return id;
}
type InstanceFile = z.infer<typeof InstanceFile>;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const TAKE_OVER = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;

/** A lease held by someone else: who (null when the value is not one of ours), and until when. */
export interface LeaseView {
  holder: LeaseHolder | null;
  expiresAt: Date;
}

/**
 * One watcher per folder across every process: several `imap`-role processes against one Redis
 * stand by for each other instead of fetching the same mail twice.
 */
export interface Lease {
  /**
   * Takes the lease if free, renews it if ours, or takes over one this installation's previous
   * life left (same instance id and host, that process gone): `reclaimed` then. False while
   * another process holds it.
   */
  hold(): Promise<false | 'held' | 'reclaimed'>;
  /** Who holds the lease when it is not ours; null when nobody does. */
  holder(): Promise<LeaseView | null>;
  release(): Promise<void>;
}

/** Whether `h` is a previous life of this installation on this host, now gone. */
function previousLife(h: LeaseHolder, me: LeaseHolder): boolean {
  if (h.instance !== me.instance || h.host !== me.host || h.life === me.life) return false;
  // The same pid in another life is a restart that reused it; any other pid must be gone.
  return h.pid === me.pid || !isSameProcessAlive(h.pid, h.started);
}

function parseHolder(value: string): LeaseHolder | null {
  try {
    const parsed = LeaseHolder.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function folderLease(redis: Redis, key: string, ttlMs: number, instance: string): Lease {
  const me: LeaseHolder = { instance, host: os.hostname(), pid: process.pid, life: LIFE, lease: randomBytes(6).toString('hex'), ...(started ? { started } : {}) };
  const token = JSON.stringify(me);
  const read = async (): Promise<{ value: string; view: LeaseView } | null> => {
    const [value, pttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
    if (value === null || value === token) return null;
    return { value, view: { holder: parseHolder(value), expiresAt: new Date(Date.now() + Math.max(0, pttl)) } };
  };
  return {
    async hold() {
      if ((await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1) return 'held';
      if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') return 'held';
      const other = await read();
      if (!other?.view.holder || !previousLife(other.view.holder, me)) return false;
      return (await redis.eval(TAKE_OVER, 1, key, other.value, token, String(ttlMs))) === 1 ? 'reclaimed' : false;
    },
    async holder() {
      return (await read())?.view ?? null;
    },
    async release() {
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}

/** A holder as one phrase for logs: host, pid, and whether it is this installation. */
export function describeHolder(h: LeaseHolder | null, instance: string): string {
  if (!h) return 'a process of another Mailroom version';
  return `${h.instance === instance ? 'this installation' : `installation ${h.instance}`} on ${h.host}, pid ${h.pid}`;
}
