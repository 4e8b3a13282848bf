import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import { DEFAULT_REPLY_LIMITS } from '../../src/config/config.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { email, startRig, type Instance, type Rig } from '../etiquette/instance.js';
import type { SmtpCapture } from '../harness/smtp-capture.js';

const FLOOD = 500;
const SENDER = 'flood@customer.example';

describe(`a flood of ${FLOOD} emails from one verified sender (real Redis, real SMTP)`, () => {
  let rig: Rig;
  let smtp: SmtpCapture;
  let mailroom: Instance;
  let records: EmailRecord[];
  let elapsedMs = 0;

  beforeAll(async () => {
    rig = await startRig([SENDER], { concurrency: 32 });
    ({ smtp, mailroom } = rig);
    const started = Date.now();
    const ids: EmailId[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const raw = email(
        { From: `Flo <${SENDER}>`, To: 'support@acme.example', Subject: `Invoice question ${i}`, 'Message-ID': `<flood-${i}@customer.example>` },
        `Please send me invoice ${i} again.`,
      );
      ids.push(await mailroom.submit(raw));
    }
    records = await mailroom.waitRest(ids, 60_000);
    elapsedMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('sends at most the per-sender limit of replies', () => {
    expect(smtp.messages).toHaveLength(DEFAULT_REPLY_LIMITS.perSenderPerDay);
    expect(new Set(smtp.messages.map((m) => m.parsed.messageId)).size).toBe(DEFAULT_REPLY_LIMITS.perSenderPerDay);
  });

  it('parks every other reply for a human, naming the limit, and loses nothing', async () => {
    const byState: Record<string, number> = {};
    for (const r of records) byState[r.state] = (byState[r.state] ?? 0) + 1;
    expect(byState).toEqual({ completed: DEFAULT_REPLY_LIMITS.perSenderPerDay, awaiting_approval: FLOOD - DEFAULT_REPLY_LIMITS.perSenderPerDay });
    for (const r of records.filter((x) => x.state === 'awaiting_approval')) {
      expect(r.reason).toBe('step send: reply rate limit (sender): 5 automatic replies to this sender per 24 h already sent');
    }
    expect(await mailroom.app.queues.get('approval').getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(FLOOD - DEFAULT_REPLY_LIMITS.perSenderPerDay);
    console.info(`flood: ${FLOOD} emails, ${smtp.messages.length} replies sent, ${byState.awaiting_approval ?? 0} parked, ${elapsedMs} ms`);
  });
});
