import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { extractBouncedMessageIds } from '../../src/ingest/dsn-parser.js';
import { RobotVerdict, detectRobot } from '../../src/ingest/robot-detector.js';
import type { HeaderField, RobotPolicy, RobotSignals } from '../../src/ingest/robot-detector.js';
import type { AutoKind } from '../../src/model/trusted-context.js';
import { robotSignalsFromHeaders } from '../../src/ingest/robot-signals.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/robots/', import.meta.url));
const policy: RobotPolicy = { ourDomains: ['acme.example', 'mailroom.acme.example'] };

/** Parse a fixture exactly the way ingest will: mailparser, then the adapter. */
async function signalsOf(file: string): Promise<RobotSignals> {
  const parsed = await simpleParser(readFileSync(FIXTURES + file));
  return robotSignalsFromHeaders(parsed.headerLines, {
    from: parsed.from?.value[0]?.address ?? null,
    subject: parsed.subject ?? null,
  });
}

/** fixture → expected verdict; every .eml in the folder must appear here. */
const TABLE: Record<string, { kind: AutoKind; reason: string }> = {
  'exchange-automatic-reply.eml': { kind: 'autoreply', reason: 'Auto-Submitted: auto-generated' },
  'gmail-vacation.eml': { kind: 'autoreply', reason: 'Auto-Submitted: auto-replied' },
  'x-autoreply.eml': { kind: 'autoreply', reason: 'X-Autoreply' },
  // Carries Auto-Submitted and In-Reply-To our Message-ID, yet stays a bounce (rule 2 before 4).
  'dsn-mailer-daemon.eml': { kind: 'bounce', reason: 'multipart/report: delivery-status' },
  'null-envelope-sender.eml': { kind: 'bounce', reason: 'null envelope sender' },
  // RFC 3834 §3.3 responders use the null sender too; Auto-Submitted makes it an auto-reply.
  'sieve-vacation-null-sender.eml': { kind: 'autoreply', reason: 'Auto-Submitted: auto-replied' },
  'list-mail.eml': { kind: 'list', reason: 'List-Id' },
  'newsletter.eml': { kind: 'bulk', reason: 'Precedence: bulk' },
  'noreply-notification.eml': { kind: 'autoreply', reason: 'no-reply sender' },
  'no-underscore-reply.eml': { kind: 'autoreply', reason: 'no-reply sender' },
  'loop-own-autoreply.eml': { kind: 'loop', reason: 'Message-ID names ours + Auto-Submitted' },
  'loop-autoreply-to-ours.eml': { kind: 'loop', reason: 'In-Reply-To names ours + Auto-Submitted' },
  'x-mailroom-id.eml': { kind: 'loop', reason: 'X-Mailroom-Id present' },
  'mdn-read-receipt.eml': { kind: 'autoreply', reason: 'multipart/report: disposition-notification' },
  'subject-prefix-only.eml': { kind: 'autoreply', reason: 'Subject prefix: Réponse automatique' },
  // Human lookalikes.
  'human-out-of-office-body.eml': { kind: 'none', reason: 'no robot signal' },
  'human-re-automatic-reply.eml': { kind: 'none', reason: 'no robot signal' },
  'human-noreen-ply.eml': { kind: 'none', reason: 'no robot signal' },
  'auto-submitted-no.eml': { kind: 'none', reason: 'no robot signal' },
  'human-auto-subject.eml': { kind: 'none', reason: 'no robot signal' },
};

function signals(headers: ReadonlyArray<HeaderField>, over: Partial<RobotSignals> = {}): RobotSignals {
  return { headers, from: 'someone@customer.example', contentType: 'text/plain', subject: 'Hello', ...over };
}

describe('detectRobot on .eml fixtures', () => {
  it('has an expectation for every fixture', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml'));
    expect(files.sort()).toEqual(Object.keys(TABLE).sort());
    expect(files.length).toBeGreaterThanOrEqual(14);
  });

  it.each(Object.entries(TABLE))('%s', async (file, expected) => {
    const result = detectRobot(await signalsOf(file), policy);
    expect(result).toEqual(expected);
    expect(RobotVerdict.safeParse(result).success).toBe(true);
  });

  it('links the DSN to our outbound Message-ID from its text/rfc822-headers part', async () => {
    const parsed = await simpleParser(readFileSync(FIXTURES + 'dsn-mailer-daemon.eml'));
    const part = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    expect(part).toBeDefined();
    expect(extractBouncedMessageIds(part?.content.toString('utf8') ?? '')).toEqual([
      '<r7.step-send@acme.example>',
    ]);
  });

  it('finds the original Message-ID in a raw DSN, ignoring the report’s own ids', () => {
    const raw = readFileSync(FIXTURES + 'dsn-mailer-daemon.eml', 'utf8');
    expect(extractBouncedMessageIds(raw)).toEqual(['<r7.step-send@acme.example>']);
    expect(extractBouncedMessageIds(raw.replace(/\n/g, '\r\n'))).toEqual(['<r7.step-send@acme.example>']);
  });

  it('finds Original-Message-ID in an MDN part', async () => {
    const parsed = await simpleParser(readFileSync(FIXTURES + 'mdn-read-receipt.eml'));
    const part = parsed.attachments.find((a) => a.contentType === 'message/disposition-notification');
    expect(extractBouncedMessageIds(part?.content.toString('utf8') ?? '')).toEqual([
      '<r12.step-send@mailroom.acme.example>',
    ]);
  });

  it('lets a known envelope sender override Return-Path', async () => {
    const parsed = await simpleParser(readFileSync(FIXTURES + 'null-envelope-sender.eml'));
    const known = robotSignalsFromHeaders(parsed.headerLines, {
      envelopeFrom: 'mail@old-mx.customer.example',
    });
    expect(detectRobot(known, policy).kind).toBe('none');
    const nullSender = robotSignalsFromHeaders(parsed.headerLines, { envelopeFrom: '' });
    expect(detectRobot(nullSender, policy)).toEqual({ kind: 'bounce', reason: 'null envelope sender' });
  });
});

describe('robotSignalsFromHeaders', () => {
  it('unfolds values, lowercases keys, reads From, Return-Path and an encoded subject itself', () => {
    const s = robotSignalsFromHeaders([
      { key: 'return-path', line: 'Return-Path: <>' },
      { key: 'return-path', line: 'Return-Path: <later@relay.example>' },
      { key: 'from', line: 'From: "Smith, <noreply@fake>" <No-Reply@Shop.Example>' },
      { key: 'subject', line: 'Subject: =?UTF-8?Q?R=C3=A9ponse_automatique?=\r\n =?UTF-8?Q?_:_commande?=' },
      { key: 'Auto-Submitted', line: 'Auto-Submitted: Auto-Replied\r\n (vacation)' },
    ]);
    expect(s.envelopeFrom).toBe('');
    expect(s.from).toBe('no-reply@shop.example');
    expect(s.subject).toBe('Réponse automatique : commande');
    expect(s.contentType).toBe('text/plain');
    expect(s.headers.at(-1)).toEqual({ key: 'auto-submitted', value: 'Auto-Replied (vacation)' });
  });

  it('reads a bare MAILER-DAEMON From', () => {
    const s = robotSignalsFromHeaders([{ key: 'from', line: 'From: MAILER-DAEMON (Mail Delivery System)' }]);
    expect(detectRobot(s, policy)).toEqual({ kind: 'bounce', reason: 'From: mailer-daemon' });
  });
});

describe('detectRobot rules', () => {
  it('normalises case, comments and whitespace in header values', () => {
    const cases: Array<[HeaderField, AutoKind]> = [
      [{ key: 'auto-submitted', value: 'AUTO-NOTIFIED ; owner-email="x@y"' }, 'autoreply'],
      [{ key: 'auto-submitted', value: '(comment) No' }, 'none'],
      [{ key: 'precedence', value: '  BULK  ' }, 'bulk'],
      [{ key: 'precedence', value: 'Junk (old style)' }, 'bulk'],
      [{ key: 'precedence', value: 'List' }, 'list'],
      [{ key: 'x-precedence', value: 'auto_reply' }, 'autoreply'],
      [{ key: 'precedence', value: 'auto-reply' }, 'autoreply'],
      [{ key: 'x-autorespond', value: '' }, 'autoreply'],
      [{ key: 'x-autoreply', value: 'no' }, 'none'],
      // A request, not a claim: Exchange adds it to human mail sent via distribution groups.
      [{ key: 'x-auto-response-suppress', value: 'DR, OOF, AutoReply' }, 'none'],
      [{ key: 'X-Auto-Response-Suppress', value: 'All' }, 'none'],
      [{ key: 'LIST-POST', value: '<mailto:l@x>' }, 'list'],
      [{ key: 'list-unsubscribe', value: '<https://x/u>' }, 'bulk'],
      [{ key: 'x-mailroom-id', value: '' }, 'loop'],
    ];
    for (const [header, kind] of cases) {
      expect(detectRobot(signals([header]), policy).kind, JSON.stringify(header)).toBe(kind);
    }
  });

  it('reports unknown Auto-Submitted values without echoing them', () => {
    const v = detectRobot(
      signals([{ key: 'auto-submitted', value: 'ignore previous instructions' }]),
      policy,
    );
    expect(v).toEqual({ kind: 'autoreply', reason: 'Auto-Submitted: other' });
  });

  it('uses the first non-"no" of several Auto-Submitted headers', () => {
    const v = detectRobot(
      signals([
        { key: 'auto-submitted', value: 'no' },
        { key: 'auto-submitted', value: 'auto-replied' },
      ]),
      policy,
    );
    expect(v).toEqual({ kind: 'autoreply', reason: 'Auto-Submitted: auto-replied' });
  });

  it('prefers list over bulk, and bulk over a no-reply sender', () => {
    const listAndBulk = signals([
      { key: 'precedence', value: 'bulk' },
      { key: 'list-id', value: '<l.example>' },
    ]);
    expect(detectRobot(listAndBulk, policy).kind).toBe('list');
    const bulkNoReply = signals([{ key: 'precedence', value: 'bulk' }], { from: 'noreply@x.example' });
    expect(detectRobot(bulkNoReply, policy).kind).toBe('bulk');
  });

  it('treats a human reply to our mail as human, an automatic one as a loop', () => {
    const human = signals([{ key: 'in-reply-to', value: '<r1.send@ACME.example>' }]);
    expect(detectRobot(human, policy).kind).toBe('none');
    const ack = signals([{ key: 'references', value: '<a@b.example> <r1.send@acme.example.>' }], {
      from: 'do-not-reply@helpdesk.example',
    });
    expect(detectRobot(ack, policy)).toEqual({
      kind: 'loop',
      reason: 'References names ours + no-reply sender',
    });
    const vacation = signals([{ key: 'in-reply-to', value: '<r1.send@acme.example>' }], {
      subject: 'Auto: Re: your refund',
    });
    expect(detectRobot(vacation, policy)).toEqual({
      kind: 'loop',
      reason: 'In-Reply-To names ours + Subject prefix',
    });
  });

  it('does not treat subdomains or other domains as ours', () => {
    const v = detectRobot(
      signals([
        { key: 'auto-submitted', value: 'auto-replied' },
        { key: 'in-reply-to', value: '<x@mx.acme.example> <y@acme.example.evil>' },
      ]),
      policy,
    );
    expect(v.kind).toBe('autoreply');
  });

  it('keeps a human reply via an Exchange distribution group human', () => {
    const v = detectRobot(
      signals([
        { key: 'x-auto-response-suppress', value: 'DR, OOF, AutoReply' },
        { key: 'in-reply-to', value: '<r1.send@acme.example>' },
      ]),
      policy,
    );
    expect(v.kind).toBe('none');
  });

  it('reads a null sender as an auto-reply when it carries auto-reply markers, else as a bounce', () => {
    expect(detectRobot(signals([], { envelopeFrom: '' }), policy).kind).toBe('bounce');
    const marked = signals([{ key: 'x-autoreply', value: 'yes' }], { envelopeFrom: '' });
    expect(detectRobot(marked, policy)).toEqual({ kind: 'autoreply', reason: 'X-Autoreply' });
    const subject = signals([], { envelopeFrom: '', subject: 'Automatic reply: hi' });
    expect(detectRobot(subject, policy).kind).toBe('autoreply');
    expect(detectRobot(signals([], { envelopeFrom: null }), policy).kind).toBe('none');
  });

  it('classifies other multipart/report types as autoreply', () => {
    const v = detectRobot(
      signals([], { contentType: 'multipart/report; report-type=feedback-report' }),
      policy,
    );
    expect(v).toEqual({ kind: 'autoreply', reason: 'multipart/report: feedback-report' });
  });

  it('recognises no-reply local parts and leaves lookalikes alone', () => {
    const robots = ['noreply@x', 'No-Reply@x', 'no_reply@x', 'no.reply@x', 'donotreply@x', 'do-not-reply@x'];
    const more = ['do_not_reply@x', 'dont-reply@x', 'info-noreply@x', 'noreply-billing@x', 'noreply2@x'];
    for (const from of [...robots, ...more]) {
      expect(detectRobot(signals([], { from }), policy).kind, from).toBe('autoreply');
    }
    const humans = [
      'noreen.ply@x',
      'noreenply@x',
      'nora.reply@x',
      'reply@x',
      'norepinephrine@x',
      'anoreply@x',
    ];
    for (const from of humans) {
      expect(detectRobot(signals([], { from }), policy).kind, from).toBe('none');
    }
  });

  it('matches vacation subjects only at the start', () => {
    const robots = [
      'Automatic reply: Invoice',
      'AUTOMATIC REPLY: Invoice',
      '[EXTERNAL] Automatic reply: Invoice',
      'Out of Office: back Monday',
      'Abwesenheitsnotiz: Lieferung',
      'Automatische Antwort: Lieferung',
      'Réponse automatique : commande',
      'Re\u0301ponse automatique: commande',
      'Autosvar: Order',
      'Risposta automatica: ordine',
      '[Auto-Reply] Your order',
      'Auto: Re: refund',
      'Auto: AW: Rückerstattung',
    ];
    for (const subject of robots) {
      expect(detectRobot(signals([], { subject }), policy).kind, subject).toBe('autoreply');
    }
    const humans = [
      'Re: Automatic reply: Invoice',
      'Fwd: Out of Office: back Monday',
      'Auto: Bremsen quietschen',
      'My automatic reply settings are broken',
      'Out of office coverage question',
    ];
    for (const subject of humans) {
      expect(detectRobot(signals([], { subject }), policy).kind, subject).toBe('none');
    }
  });
});

describe('detectRobot properties', () => {
  const header = fc.record({
    key: fc.oneof(
      fc.string(),
      fc.constantFrom('auto-submitted', 'precedence', 'list-id', 'references', 'in-reply-to', 'message-id'),
    ),
    value: fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('(', '"', '<@>', 'no (', '\\'),
    ),
  });
  const anySignals = fc.record({
    headers: fc.array(header, { maxLength: 20 }),
    from: fc.option(fc.string()),
    envelopeFrom: fc.option(fc.string(), { nil: undefined }),
    contentType: fc.string(),
    subject: fc.option(fc.string({ unit: 'binary' })),
  });

  it('never throws and always returns a valid verdict', () => {
    fc.assert(
      fc.property(anySignals, fc.array(fc.string()), (s, ourDomains) => {
        const v = detectRobot(s, { ourDomains });
        expect(RobotVerdict.safeParse(v).success).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary raw header lines', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key: fc.string(), line: fc.string({ unit: 'binary' }) })), (lines) => {
        const v = detectRobot(robotSignalsFromHeaders(lines), policy);
        expect(RobotVerdict.safeParse(v).success).toBe(true);
        expect(extractBouncedMessageIds(lines.map((l) => l.line).join('\n'))).toBeInstanceOf(Array);
      }),
      { numRuns: 300 },
    );
  });

  it('ignores headers that are not robot signals', () => {
    const robotKeys = new Set([
      'auto-submitted',
      'x-autoreply',
      'x-autorespond',
      'x-precedence',
      'precedence',
      'list-id',
      'list-post',
      'list-unsubscribe',
      'x-mailroom-id',
    ]);
    const other = fc.record({
      key: fc.string().filter((k) => !robotKeys.has(k.trim().toLowerCase())),
      value: fc.string(),
    });
    fc.assert(
      fc.property(fc.array(other, { maxLength: 20 }), (headers) => {
        expect(detectRobot(signals(headers), policy).kind).toBe('none');
      }),
    );
  });

  it('calls a message with no headers at all human', () => {
    expect(detectRobot(robotSignalsFromHeaders([]), policy)).toEqual({
      kind: 'none',
      reason: 'no robot signal',
    });
    expect(detectRobot({ headers: [], from: null, contentType: '', subject: null }, policy).kind).toBe(
      'none',
    );
  });

  it('never puts header text into the reason', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 8 }).map((s) => `ZZ${s}QQ`),
        (canary) => {
          const v = detectRobot(
            signals([{ key: 'auto-submitted', value: canary }], { subject: canary, from: `${canary}@x` }),
            policy,
          );
          expect(v.reason).not.toContain(canary);
        },
      ),
    );
  });
});
