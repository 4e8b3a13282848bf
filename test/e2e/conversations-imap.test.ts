import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTING_STATES, type EmailRecord } from '../../src/audit/email-ledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { emailIdOf } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { classifierReply, FACTS_REPLY_PLAN } from '../fixtures/model-answers.js';
import { BIN, runMailroom } from '../harness/cli.js';
import { startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { exampleEnv, writeExampleConfig } from '../harness/example-config.js';
import { imapAccount, waitFor } from '../harness/mail.js';
import { buildMail } from '../harness/mail-factory.js';
import { startModelServices, type ModelServices } from '../harness/model-services.js';
import { roleResponder } from '../harness/openai-server.js';

/**
 * Issue 32 as a user runs it: `mailroom start` watching a real Dovecot INBOX (IDLE), replying over
 * real SMTP. The customer answers our reply, taking its Message-ID from the mail it received, and
 * the answer joins the case; the same answer from another customer, unsigned, or naming another
 * customer's case opens a new case.
 */
const DANA = 'dana.whitfield@brightleaf.example';
const AHMED = 'ahmed@fieldnotes.example';
const MAILBOX = 'support@acme.example';

const question = (from: string, id: string) =>
  buildMail({ from, verified: true, subject: 'Invoice copy', text: 'Could you send me a copy of our October invoice?', messageId: `<${id}@${from.split('@')[1]}>` }).raw;
const answer = (from: string, id: string, inReplyTo: string, verified = true) =>
  buildMail({
    from,
    verified,
    subject: 'Re: Invoice copy',
    text: 'Thanks, but the invoice still has no PO number on it. Where do I add it?',
    messageId: `<${id}@${from.split('@')[1]}>`,
    extraHeaders: { 'In-Reply-To': inReplyTo, References: inReplyTo },
  }).raw;

describe('conversations over IMAP: `mailroom start` links a follow-up to its case (real Dovecot, SMTP, Redis)', () => {
  let services: ModelServices;
  let dovecot: DovecotServer;
  let app: AppContext;
  let daemon: ChildProcess;
  let env: Record<string, string>;
  let stderr = '';

  const rest = (raw: string) => {
    const id = emailIdOf(Buffer.from(raw), MAILBOX);
    return waitFor(
      `email ${id} to come to rest (daemon stderr: ${stderr.slice(-500)})`,
      async () => {
        const rec = await app.ledger.get(id);
        return rec && RESTING_STATES.includes(rec.state) ? rec : undefined;
      },
      60_000,
      100,
    );
  };
  const caseOf = async (rec: EmailRecord) => (await app.audit.read(rec.emailId)).find((e) => e.type === 'case')?.data;

  beforeAll(async () => {
    [services, dovecot] = await Promise.all([startModelServices(), startDovecot()]);
    services.llm.setResponder(roleResponder({ planner: () => ({ content: JSON.stringify(FACTS_REPLY_PLAN) }), 'sandbox:classify_email': classifierReply('billing') }));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-conv-imap-'));
    const configPath = writeExampleConfig(dir, {
      imap: [{ ...imapAccount(dovecot, 'TEST_IMAP_PASSWORD'), pollSeconds: 5, reconnectMinMs: 100, reconnectMaxMs: 1000 }],
    });
    env = { ...exampleEnv({ ...services, dataDir: dir }), MAILROOM_CONFIG: configPath, TEST_IMAP_PASSWORD: dovecot.password, OPENAI_MODEL: 'test-model' };
    app = await createContext(loadConfig({ env }), createLogger({ level: 'silent' }), { attachToRunning: true });
    daemon = spawn(process.execPath, [BIN, 'start'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MAILROOM_LOG_LEVEL: 'error', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
  }, 90_000);
  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
    }
    await app?.close();
    await Promise.all([dovecot?.close(), services?.close()]);
  });

  it('the answer to our reply joins the case; the same answer from anyone else, unsigned, or forged opens a new one', async () => {
    const first = { dana: question(DANA, 'q-dana'), ahmed: question(AHMED, 'q-ahmed') };
    for (const raw of Object.values(first)) await dovecot.deliver(dovecot.user, raw);
    const [danaQ, ahmedQ] = [await rest(first.dana), await rest(first.ahmed)];
    expect([danaQ.state, ahmedQ.state]).toEqual(['completed', 'completed']);
    await services.smtp.waitFor(2, 10_000);
    // Our replies' Message-IDs, as the customers' mail clients received them.
    const ours = (to: string) => services.smtp.messages.find((m) => m.envelope.to.includes(to))?.parsed.messageId ?? '';
    expect(ours(DANA)).toMatch(/^<.+@.+>$/);
    expect(ours(AHMED)).toMatch(/^<.+@.+>$/);
    const danaCase = await caseOf(danaQ);
    expect(danaCase).toMatchObject({ followUp: false });

    const second = {
      follow: answer(DANA, 'f-dana', ours(DANA)),
      other: answer(AHMED, 'f-ahmed', ours(DANA)),
      unverified: answer(DANA, 'f-unverified', ours(DANA), false),
      forged: answer(DANA, 'f-forged', ours(AHMED)),
    };
    for (const raw of Object.values(second)) await dovecot.deliver(dovecot.user, raw);
    const follow = await rest(second.follow);
    expect(follow.state).toBe('completed');
    expect(await caseOf(follow)).toMatchObject({ followUp: true, caseId: danaCase?.caseId, turns: 1, previous: 'replied' });
    // Our answer to the follow-up went to Dana, threaded under her follow-up.
    const replies = await services.smtp.waitFor(3, 10_000);
    expect(replies.some((m) => m.envelope.to.includes(DANA) && m.parsed.inReplyTo === '<f-dana@brightleaf.example>')).toBe(true);

    const cli = await runMailroom(['audit', follow.emailId], env);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(String(danaCase?.caseId));
    expect(cli.stdout).toMatch(/case/i);

    const seenCases = new Set([String(danaCase?.caseId), String((await caseOf(ahmedQ))?.caseId)]);
    for (const [name, why] of [
      ['other', /another customer/],
      ['unverified', /not verified/],
      ['forged', /another customer/],
    ] as const) {
      const rec = await rest(second[name]);
      const event = await caseOf(rec);
      expect(event, name).toMatchObject({ followUp: false, turns: 0, previous: 'none' });
      expect(String(event?.notLinked), name).toMatch(why);
      expect(seenCases.has(String(event?.caseId)), `${name} got a case of its own`).toBe(false);
      seenCases.add(String(event?.caseId));
    }
  }, 240_000);
});
