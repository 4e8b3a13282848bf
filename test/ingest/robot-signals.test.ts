import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { detectRobot } from '../../src/ingest/robot-detector.js';
import { robotSignalsFromHeaders } from '../../src/ingest/robot-signals.js';

/** Encoded-word subjects a sender controls: charsets, encodings, broken words, joins. */
const SUBJECTS = [
  '=?UTF-8?Q?R=C3=A9ponse_automatique?= =?UTF-8?Q?_:_commande?=',
  '=?utf-8?B?QXV0b21h?= =?utf-8?B?dGljIHJlcGx5Og==?= ticket',
  '=?iso-8859-1?q?Abwesenheitsnotiz:_M=FCller?=',
  '=?utf-8*en?q?Autoreply:?= x',
  // A charset no decoder knows, and one the old hand-written decoder read wrongly (UTF-16 BE).
  '=?x-made-up?Q?Automatic_reply:?= x',
  '=?utf-16?b?AEEAQg==?=',
  '=?utf-8?q?bad=ZZ?= =?utf-8?b?!!!?= =?utf-8?x?y?= =?',
  '=?utf-8?q?a?= plain =?iso-8859-1?q?b?=',
];

describe('robotSignalsFromHeaders decodes a Subject line as mailparser does', () => {
  for (const subject of SUBJECTS) {
    it(`reads ${JSON.stringify(subject)} like parsed.subject (the old decoder kept unknown charsets raw and misread UTF-16)`, async () => {
      const raw = `From: pat@customer.example\r\nSubject: ${subject}\r\n\r\nhi\r\n`;
      const parsed = await simpleParser(raw);
      const signals = robotSignalsFromHeaders(parsed.headerLines);
      expect(signals.subject).toBe(parsed.subject);
    });
  }

  it('an unknown charset still counts as a vacation subject (a privilege-removing signal, never an error)', () => {
    const signals = robotSignalsFromHeaders([{ key: 'subject', line: 'Subject: =?x-made-up?Q?Automatic_reply:?= hi' }]);
    expect(detectRobot(signals, { ourDomains: [] })).toEqual({ kind: 'autoreply', reason: 'Subject prefix: Automatic reply' });
  });

  it('a 1 MB Subject of unterminated encoded-word starts decodes without throwing', () => {
    const line = `Subject: ${'=?a?b?'.repeat(170_000)}`;
    expect(robotSignalsFromHeaders([{ key: 'subject', line }]).subject?.length).toBeGreaterThan(1_000_000);
  });
});
