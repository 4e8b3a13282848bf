import { describe, expect, it } from 'vitest';
import { caseIdFor, emailIdFor } from '../../src/kernel/ids.js';
import type { DkimSignatureFacts } from '../../src/ingest/dkim-signature.js';
import { decideFollowUp, namedMessageIds, threadHeaderProblem } from '../../src/ingest/follow-up-link.js';
import type { Sender } from '../../src/model/trusted-context.js';

const signature = (signed: string[]): DkimSignatureFacts => ({
  domain: 'brightleaf.example',
  selector: 's',
  b: 'abcdefgh',
  signed,
  bodyLength: null,
  canonicalBodyLength: null,
  expiresAt: null,
});
const BOUND = ['from', 'to', 'subject', 'date', 'message-id'];
const DANA: Sender = { verified: true, address: 'dana.whitfield@brightleaf.example', method: 'dmarc' };
const CASE = caseIdFor(emailIdFor('support@acme.example', '<first@brightleaf.example>'));
const OTHER_CASE = caseIdFor(emailIdFor('support@acme.example', '<other@fieldnotes.example>'));

describe('threadHeaderProblem: In-Reply-To/References are believed only when signed, once each', () => {
  it('accepts one signed copy of each, or none of one', () => {
    expect(threadHeaderProblem(signature([...BOUND, 'in-reply-to', 'references']), { 'in-reply-to': 1, references: 1 })).toBeNull();
    expect(threadHeaderProblem(signature([...BOUND, 'in-reply-to', 'in-reply-to']), { 'in-reply-to': 1 })).toBeNull();
  });

  it('refuses unsigned, doubled or uncounted headers, and a pass that rests on no signature', () => {
    expect(threadHeaderProblem(signature(BOUND), { 'in-reply-to': 1 })).toMatch(/In-Reply-To is not covered/);
    expect(threadHeaderProblem(signature([...BOUND, 'in-reply-to']), { 'in-reply-to': 1, references: 1 })).toMatch(/References is not covered/);
    expect(threadHeaderProblem(signature([...BOUND, 'references', 'references']), { references: 2 })).toMatch(/2 References headers/);
    expect(threadHeaderProblem(signature([...BOUND, 'in-reply-to']), undefined)).toMatch(/not counted/);
    expect(threadHeaderProblem(null, { 'in-reply-to': 1 })).toMatch(/no DKIM signature/);
  });
});

describe('namedMessageIds', () => {
  it('reads msg-ids from In-Reply-To and References, In-Reply-To first, each once, bounded', () => {
    expect(namedMessageIds({ inReplyTo: '<a@x> <b@y>', references: ['<c@z>', '<a@x>'] })).toEqual(['<a@x>', '<b@y>', '<c@z>']);
    expect(namedMessageIds({ inReplyTo: 'no brackets', references: [] })).toEqual([]);
    expect(namedMessageIds({ references: Array.from({ length: 100 }, (_, i) => `<r${i}@x>`) })).toHaveLength(20);
  });
});

describe('decideFollowUp: the link rule', () => {
  const link = (over: Partial<Parameters<typeof decideFollowUp>[0]> = {}) =>
    decideFollowUp({ sender: DANA, headerProblem: null, named: 2, minted: [{ caseId: CASE, customer: 'dana.whitfield@brightleaf.example' }], ...over });

  it("links the case's own verified customer answering a Message-ID we minted", () => {
    expect(link()).toEqual({ followUp: true, caseId: CASE });
    expect(link({ sender: { ...DANA, address: 'Dana.Whitfield@brightleaf.example', method: 'dkim' } })).toEqual({ followUp: true, caseId: CASE });
  });

  it('opens a new case for everything else, saying why', () => {
    expect(link({ named: 0, minted: [] })).toEqual({ followUp: false, reason: null });
    expect(link({ sender: { verified: false, reason: 'dmarc=fail' } })).toMatchObject({ followUp: false, reason: /not verified by a DKIM/ });
    // A configured trust has no signature to bind the threading headers.
    expect(link({ sender: { ...DANA, method: 'trusted-sender' } })).toMatchObject({ followUp: false });
    expect(link({ sender: { ...DANA, method: 'trusted-mailbox' } })).toMatchObject({ followUp: false });
    expect(link({ headerProblem: 'References is not covered by the DKIM signature' })).toMatchObject({ followUp: false, reason: /References/ });
    expect(link({ minted: [] })).toMatchObject({ followUp: false, reason: /never|no Message-ID Mailroom minted/ });
    expect(link({ sender: { ...DANA, address: 'ahmed@fieldnotes.example' } })).toMatchObject({ followUp: false, reason: /another customer/ });
    expect(link({ minted: [{ caseId: CASE, customer: null }] })).toMatchObject({ followUp: false, reason: /another customer/ });
  });

  it("refuses a mix: our reply to Dana together with someone else's case, or two cases", () => {
    expect(link({ minted: [{ caseId: CASE, customer: 'dana.whitfield@brightleaf.example' }, { caseId: OTHER_CASE, customer: 'ahmed@fieldnotes.example' }] })).toMatchObject({
      followUp: false,
      reason: /several cases/,
    });
    expect(link({ minted: [{ caseId: CASE, customer: 'dana.whitfield@brightleaf.example' }, { caseId: OTHER_CASE, customer: 'dana.whitfield@brightleaf.example' }] })).toMatchObject({
      followUp: false,
    });
  });
});
