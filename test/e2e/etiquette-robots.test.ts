import { readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-trail.js';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { AutoKind } from '../../src/model/trusted-context.js';
import { startRig, type Instance, type Rig } from '../etiquette/instance.js';
import { EXAMPLES, EXPECTED } from '../fixtures/examples.js';
import type { SmtpCapture } from '../harness/smtp-capture.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/robots');
const MAILBOX = path.join(EXAMPLES, 'mailbox');

/**
 * Real-world-shaped robot mail and human mail that merely looks like it. Every sender is made a
 * trusted sender and every email is routed to `billing` (a reply playbook), so the robot verdict
 * is the only thing that can stop a reply.
 */
const TABLE: ReadonlyArray<{ file: string; kind: AutoKind }> = [
  { file: `${FIXTURES}/exchange-automatic-reply.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/gmail-vacation.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/x-autoreply.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/sieve-vacation-null-sender.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/subject-prefix-only.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/mdn-read-receipt.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/noreply-notification.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/no-underscore-reply.eml`, kind: 'autoreply' },
  { file: `${FIXTURES}/dsn-mailer-daemon.eml`, kind: 'bounce' },
  { file: `${FIXTURES}/null-envelope-sender.eml`, kind: 'bounce' },
  { file: `${FIXTURES}/list-mail.eml`, kind: 'list' },
  { file: `${FIXTURES}/newsletter.eml`, kind: 'bulk' },
  { file: `${FIXTURES}/loop-own-autoreply.eml`, kind: 'loop' },
  { file: `${FIXTURES}/loop-autoreply-to-ours.eml`, kind: 'loop' },
  { file: `${FIXTURES}/x-mailroom-id.eml`, kind: 'loop' },
  // Humans who merely look like robots: "out of office" in the body, "Re: Automatic reply:",
  // a name that contains "noreply" letters, `Auto-Submitted: no`, a subject starting "Auto:".
  { file: `${FIXTURES}/human-out-of-office-body.eml`, kind: 'none' },
  { file: `${FIXTURES}/human-re-automatic-reply.eml`, kind: 'none' },
  { file: `${FIXTURES}/human-noreen-ply.eml`, kind: 'none' },
  { file: `${FIXTURES}/auto-submitted-no.eml`, kind: 'none' },
  { file: `${FIXTURES}/human-auto-subject.eml`, kind: 'none' },
  { file: `${MAILBOX}/05-out-of-office-invoice-wrong.eml`, kind: 'none' },
  // The robot mail in examples/, with the kinds examples/expected.json records.
  ...Object.entries(EXPECTED)
    .filter(([, e]) => e.robot !== 'none')
    .map(([file, e]) => ({ file: `${MAILBOX}/${file}`, kind: AutoKind.parse(e.robot) })),
];

interface Row {
  file: string;
  kind: AutoKind;
  from: string;
  messageId: string;
  emailId: EmailId;
  record: EmailRecord;
  audit: AuditEvent[];
}

describe('robot mail through the whole pipeline (real Redis, real SMTP)', () => {
  let rig: Rig;
  let smtp: SmtpCapture;
  let mailroom: Instance;
  const rows: Row[] = [];

  beforeAll(async () => {
    const parsed = await Promise.all(TABLE.map(async (t) => ({ ...t, mail: await simpleParser(readFileSync(t.file)) })));
    const senders = [...new Set(parsed.map((p) => p.mail.from?.value[0]?.address?.toLowerCase() ?? ''))].filter(Boolean);
    rig = await startRig(senders);
    ({ smtp, mailroom } = rig);
    const ids = [];
    for (const p of parsed) ids.push(await mailroom.submit(readFileSync(p.file), p.file));
    const records = await mailroom.waitRest(ids);
    for (const [i, p] of parsed.entries()) {
      const emailId = ids[i] as EmailId;
      rows.push({
        file: path.basename(p.file),
        kind: p.kind,
        from: p.mail.from?.value[0]?.address?.toLowerCase() ?? '',
        messageId: p.mail.messageId ?? '',
        emailId,
        record: records[i] as EmailRecord,
        audit: await mailroom.app.audit.read(emailId),
      });
    }
    // Give any stray reply time to arrive before the assertions count them.
    await smtp.waitFor(TABLE.filter((t) => t.kind === 'none').length, 10_000);
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('classifies every message as the table says', () => {
    const actual = Object.fromEntries(rows.map((r) => [r.file, r.record.robot || 'none']));
    expect(actual).toEqual(Object.fromEntries(rows.map((r) => [r.file, r.kind])));
  });

  it('files each robot as completed with its kind as reason, labelled, with no reply and no planner', () => {
    for (const row of rows.filter((r) => r.kind !== 'none')) {
      const where = `${row.file} (${row.kind})`;
      expect(row.record, where).toMatchObject({ state: 'completed', reason: row.kind, robot: row.kind, tools: 'apply_label' });
      expect(smtp.messages.filter((m) => m.parsed.inReplyTo === row.messageId), where).toHaveLength(0);
      expect(smtp.messages.filter((m) => m.envelope.to.includes(row.from)), where).toHaveLength(0);
      const planned = row.audit.find((e) => e.type === 'planned');
      expect(planned?.actor, where).toBe('robot');
      expect(row.audit.find((e) => e.type === 'robot')?.data, where).toMatchObject({ kind: row.kind });
      expect(row.audit.some((e) => e.type === 'step_started' && e.data.tool === 'send_reply'), where).toBe(false);
      expect(row.audit.at(-1), where).toMatchObject({ type: 'completed', data: { reason: row.kind } });
    }
  });

  it('labels robot mail by kind', async () => {
    for (const row of rows.filter((r) => r.kind !== 'none')) {
      expect(await mailroom.app.redis.smembers(mailroom.app.keys.labels(row.emailId)), row.file).toEqual([`mailroom/robot/${row.kind}`]);
    }
  });

  it('answers each human lookalike exactly once, threaded', () => {
    const humans = rows.filter((r) => r.kind === 'none');
    expect(humans.length).toBeGreaterThanOrEqual(6);
    for (const row of humans) {
      expect(row.record, row.file).toMatchObject({ state: 'completed', robot: '', reason: '' });
      const replies = smtp.messages.filter((m) => m.parsed.inReplyTo === row.messageId);
      expect(replies, row.file).toHaveLength(1);
      expect(replies[0]?.envelope.to).toEqual([row.from]);
      expect(replies[0]?.parsed.headers.get('auto-submitted')).toBe('auto-replied');
    }
    expect(smtp.messages).toHaveLength(humans.length);
  });

  it('asks no model about robots and counts nothing for them', () => {
    expect(mailroom.app.llm.usage().calls).toBe(0);
  });
});
