import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { emailIdOf } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { createRedis } from '../../src/queues/connection.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { imapConfig, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const FOLDER = 'Shadow';
/** A reply with flags and a label, a ticket, a forward to a team, spam filed to Junk, spam to delete, a robot. */
const OLD = [
  '01-invoice-copy-request.eml',
  '09-bug-csv-export-crash.eml',
  '16-feature-dark-mode.eml',
  '21-spam-crypto-opportunity.eml',
  '23-spam-guest-post-verified.eml',
  '32-autoreply-exchange.eml',
];
const NEW = '02-card-declined-renewal.eml';
const raw = (file: string) => readFileSync(path.join(EXAMPLES, 'mailbox', file));
const idOf = (file: string): EmailId => emailIdOf(raw(file), 'support@acme.example');

/** examples/mailroom.config.json's accounts, KB, teams and categories, with absolute paths. */
function exampleExtras(smtpUrl: string): Record<string, unknown> {
  const file: Record<string, unknown> = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
  const { mailbox: _m, authservId: _a, ...rest } = file;
  return {
    ...rest,
    accountsFile: path.join(EXAMPLES, 'accounts.json'),
    kbDir: path.join(EXAMPLES, 'kb'),
    smtp: { url: smtpUrl },
  };
}

describe('shadow mode on an IMAP mailbox (real Dovecot, Redis, SMTP)', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  let smtp: SmtpCapture;
  const running: Daemon[] = [];

  beforeAll(async () => {
    [dovecot, redis, smtp] = await Promise.all([startDovecot(), startTestRedis(), startSmtpCapture()]);
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(FOLDER).finally(() => admin.logout());
  });
  afterAll(async () => {
    await Promise.all(running.map((d) => d.close().catch(() => undefined)));
    await Promise.all([dovecot?.close(), redis?.close(), smtp?.close()]);
  });

  const folders = async () => {
    const client = await connectImap(dovecot);
    try {
      return (await client.list()).map((f) => f.path).sort();
    } finally {
      await client.logout();
    }
  };
  const resting = (d: Daemon, ids: EmailId[], states: readonly string[]) => async () => {
    const recs = (await d.app.ledger.getMany(ids)).filter((r): r is EmailRecord => r !== null);
    return recs.length === ids.length && recs.every((r) => states.includes(r.state)) ? recs : undefined;
  };

  it('flags, moves and sends nothing in shadow; switched to live, it acts on new mail only, even after a full rescan', async () => {
    const prefix = redis.prefix();
    const foldersBefore = await folders();
    for (const file of OLD) await dovecot.append(raw(file), FOLDER);
    const env = { REDIS_URL: redis.url, MAILROOM_PREFIX: prefix };
    const shadowConfig = imapConfig(
      dovecot,
      env,
      { folders: [FOLDER], shadow: true },
      exampleExtras(smtp.url),
    );
    const shadowDaemon = await startDaemon(shadowConfig, logger, {
      roles: ['imap', 'triage', 'planner', 'executor'],
    });
    running.push(shadowDaemon);
    const oldIds = OLD.map(idOf);
    const recs = await waitFor(
      'the old mail to end shadowed',
      resting(shadowDaemon, oldIds, ['shadowed']),
      30_000,
    );
    expect(recs.every((r) => r.mode === 'shadow')).toBe(true);
    // The plans would have flagged, labelled and moved on the server: recorded, not done.
    const wouldTools = new Set<string>();
    for (const id of oldIds)
      for (const e of await shadowDaemon.app.audit.read(id))
        if (e.type === 'would_do') wouldTools.add(String(e.data.tool));
    expect([...wouldTools]).toEqual(
      expect.arrayContaining(['set_flags', 'apply_label', 'move_message', 'send_reply', 'forward_to_team']),
    );
    await shadowDaemon.close();
    running.splice(running.indexOf(shadowDaemon), 1);

    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages).toHaveLength(0);
    const onServer = await dovecot.listMailbox(FOLDER);
    expect(onServer).toHaveLength(OLD.length);
    for (const m of onServer) expect(m.flags, m.subject).toEqual([]);
    expect(await folders()).toEqual(foldersBefore);

    // Live now, on the same data. The checkpoint is dropped, as if it had been lost: every old
    // message is fetched again, is known (dedup), and stays exactly as it is.
    const admin = createRedis(redis.url, 'test');
    await admin.del(shadowDaemon.app.keys.imapCheckpoint('support', FOLDER)).finally(() => admin.quit());
    const liveConfig = imapConfig(
      dovecot,
      env,
      { folders: [FOLDER], shadow: false },
      exampleExtras(smtp.url),
    );
    expect(liveConfig.imap[0]?.shadow).toBe(false);
    const liveDaemon = await startDaemon(liveConfig, logger, {
      roles: ['imap', 'triage', 'planner', 'executor'],
    });
    running.push(liveDaemon);
    await liveDaemon.imap?.watchers[0]?.firstSync;
    expect(liveDaemon.imap?.watchers[0]?.stats.duplicates).toBe(OLD.length);
    await dovecot.append(raw(NEW), FOLDER);
    const [rec] = await waitFor(
      'the new mail to complete',
      resting(liveDaemon, [idOf(NEW)], ['completed']),
      30_000,
    );
    expect(rec?.mode).toBe('live');
    const [reply] = await smtp.waitFor(1, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages).toHaveLength(1);
    const newMessageId = /^Message-ID:\s*(.+)$/im.exec(raw(NEW).toString('utf8'))?.[1]?.trim();
    expect(reply?.parsed.inReplyTo).toBe(newMessageId);

    const after = await dovecot.listMailbox(FOLDER);
    for (const m of after.slice(0, OLD.length)) expect(m.flags, m.subject).toEqual([]);
    expect(after[OLD.length]?.flags).toEqual(
      expect.arrayContaining(['$MailroomHandled', '\\Answered', '\\Seen']),
    );
    for (const r of (await liveDaemon.app.ledger.getMany(oldIds)) ?? []) expect(r?.state).toBe('shadowed');
  });
});
