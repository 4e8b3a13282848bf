/**
 * IMAP ingest against a private Dovecot (test/harness/dovecot.ts): Mailroom's folder watcher taking
 * N messages in (fetched, stored, recorded, enqueued, marked handled), against a bare imapflow
 * fetch of the same messages' sources: the ceiling for any IMAP client.
 */
import { connectImap, startDovecot, type DovecotServer } from '../test/harness/dovecot.js';
import { imapConfig } from '../test/harness/mail.js';
import { createContext } from '../src/app/context.js';
import { watchFolder } from '../src/sources/imap-watcher.js';
import { createLogger } from '../src/kernel/logger.js';
import { corpus, round } from './lib.js';

export interface ImapResult {
  imap_messages: number;
  imap_ingest_msgs_per_s: number;
  imapflow_raw_fetch_msgs_per_s: number;
}

/** Called at the edges of the two timed parts (bench/imap-only.ts profiles and counts CPU there). */
export type ImapBenchHook = (part: 'raw' | 'ingest', edge: 'start' | 'end') => Promise<void>;

/** Median of a non-empty list. */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/**
 * Fills a private Dovecot with `messages` messages, then times `pairs` alternations of the bare
 * fetch and of Mailroom's ingest of all of them, and reports the median rate of each: on a shared
 * machine one timing of each, seconds apart, compares two different loads more than two clients.
 * Every ingest is a fresh Mailroom (its own key prefix) marking with its own flag, so each one
 * takes every message in.
 */
export async function benchImap(redis: { url: string; prefix: string }, opts: { messages: number; pairs?: number }, hook: ImapBenchHook = async () => {}): Promise<ImapResult> {
  const pairs = Math.max(1, opts.pairs ?? 3);
  const dovecot = await startDovecot();
  try {
    for (const raw of corpus(opts.messages, 'i')) await dovecot.append(raw);
    const rawRates: number[] = [];
    const ingestRates: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      rawRates.push(await bareFetch(dovecot, opts.messages, hook));
      ingestRates.push(await ingest(dovecot, { url: redis.url, prefix: pair === 0 ? redis.prefix : redis.prefix.replace(/\}$/, `-${pair}}`) }, pair, opts.messages, hook));
    }
    return {
      imap_messages: opts.messages,
      imap_ingest_msgs_per_s: round(median(ingestRates), 1),
      imapflow_raw_fetch_msgs_per_s: round(median(rawRates), 1),
    };
  } finally {
    await dovecot.close();
  }
}

/** The ceiling: one session, one FETCH of every source; messages a second. */
async function bareFetch(dovecot: DovecotServer, messages: number, hook: ImapBenchHook): Promise<number> {
  const client = await connectImap(dovecot);
  let fetched = 0;
  await hook('raw', 'start');
  const t0 = performance.now();
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      for await (const msg of client.fetch('1:*', { uid: true, source: true, envelope: true })) if (msg.source) fetched += 1;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
  const seconds = (performance.now() - t0) / 1000;
  await hook('raw', 'end');
  if (fetched !== messages) throw new Error(`bench: the bare fetch got ${fetched} of ${messages}`);
  return messages / seconds;
}

/** Mailroom: the watcher's first catch-up takes every message in (no processing workers run); messages a second. */
async function ingest(dovecot: DovecotServer, redis: { url: string; prefix: string }, pair: number, messages: number, hook: ImapBenchHook): Promise<number> {
  const config = imapConfig(dovecot, { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix }, { pollSeconds: 3600, markHandled: { flag: `$MailroomBench${pair}` } });
  const app = await createContext(config, createLogger({ level: 'silent' }));
  const account = app.config.imap[0];
  if (!account) throw new Error('bench: no IMAP account in the bench config');
  try {
    await hook('ingest', 'start');
    const t1 = performance.now();
    const watcher = watchFolder(app, account, 'INBOX');
    await watcher.firstSync;
    const seconds = (performance.now() - t1) / 1000;
    await hook('ingest', 'end');
    const ingested = watcher.stats.ingested;
    await watcher.close();
    if (ingested !== messages) throw new Error(`bench: IMAP took in ${ingested} of ${messages}`);
    return messages / seconds;
  } finally {
    await app.close();
  }
}
