/**
 * IMAP ingest against a private Dovecot (test/harness/dovecot.ts): Mailroom's folder watcher taking
 * N messages in (fetched, stored, recorded, enqueued, marked handled), against a bare imapflow
 * fetch of the same messages' sources: the ceiling for any IMAP client.
 */
import { connectImap, startDovecot } from '../test/harness/dovecot.js';
import { imapConfig } from '../test/harness/mail.js';
import { createContext } from '../src/context.js';
import { watchFolder } from '../src/ingest/imap-source.js';
import { createLogger } from '../src/logger.js';
import { corpus, round } from './lib.js';

export interface ImapResult {
  imap_messages: number;
  imap_ingest_msgs_per_s: number;
  imapflow_raw_fetch_msgs_per_s: number;
}

/** Called at the edges of the two timed parts (bench/imap-only.ts profiles and counts CPU there). */
export type ImapBenchHook = (part: 'raw' | 'ingest', edge: 'start' | 'end') => Promise<void>;

export async function benchImap(redis: { url: string; prefix: string }, opts: { messages: number }, hook: ImapBenchHook = async () => {}): Promise<ImapResult> {
  const dovecot = await startDovecot();
  try {
    for (const raw of corpus(opts.messages, 'i')) await dovecot.append(raw);
    // The ceiling: one session, one FETCH of every source.
    const client = await connectImap(dovecot);
    let raw = 0;
    await hook('raw', 'start');
    const t0 = performance.now();
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        for await (const msg of client.fetch('1:*', { uid: true, source: true, envelope: true })) if (msg.source) raw += 1;
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
    const rawSeconds = (performance.now() - t0) / 1000;
    await hook('raw', 'end');
    // Mailroom: the watcher's first catch-up takes every message in (no processing workers run).
    const config = imapConfig(dovecot, { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix }, { pollSeconds: 3600 });
    const app = await createContext(config, createLogger({ level: 'silent' }));
    const account = app.config.imap[0];
    if (!account) throw new Error('bench: no IMAP account in the bench config');
    try {
      await hook('ingest', 'start');
      const t1 = performance.now();
      const watcher = watchFolder(app, account, 'INBOX');
      await watcher.firstSync;
      const ingestSeconds = (performance.now() - t1) / 1000;
      await hook('ingest', 'end');
      const ingested = watcher.stats.ingested;
      await watcher.close();
      if (ingested !== opts.messages || raw !== opts.messages) throw new Error(`bench: IMAP took in ${ingested} and fetched ${raw} of ${opts.messages}`);
      return {
        imap_messages: opts.messages,
        imap_ingest_msgs_per_s: round(opts.messages / ingestSeconds, 1),
        imapflow_raw_fetch_msgs_per_s: round(opts.messages / rawSeconds, 1),
      };
    } finally {
      await app.close();
    }
  } finally {
    await dovecot.close();
  }
}
