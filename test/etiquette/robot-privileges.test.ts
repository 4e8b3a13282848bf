import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailroomError } from '../../src/kernel/errors.js';
import { EmailRef, DraftRef, EmailId, PlanId } from '../../src/kernel/ids.js';
import type { AutoKind } from '../../src/model/trusted-context.js';
import { TrustedContext } from '../../src/model/trusted-context.js';
import { decideApproval } from '../../src/planner/approval-policy.js';
import { DEFAULT_PLAYBOOKS } from '../../src/planner/playbooks.js';
import { planEmail } from '../../src/planner/planner.js';
import type { LlmGateway } from '../../src/llm/gateway.js';
import { createRegistry } from '../../src/tools/registry.js';
import { sendReply } from '../../src/tools/send-reply.js';
import { viewOf } from '../fixtures/trusted-context.js';
import { toolContext } from '../harness/toolbox.js';
import { startRig, type Rig } from './instance.js';

const registry = createRegistry();
const ROBOTS: ReadonlyArray<Exclude<AutoKind, 'none'>> = ['autoreply', 'bulk', 'list', 'bounce', 'loop'];

function context(kind: AutoKind): TrustedContext {
  return TrustedContext.parse({
    emailId: 'em_0123456789abcdef',
    mailbox: 'support@acme.example',
    folder: null,
    uid: null,
    sizeBytes: 100,
    receivedAt: new Date(0).toISOString(),
    sender: { verified: true, address: 'ann@customer.example', method: 'dmarc' },
    account: null,
    category: { name: 'billing', source: 'route' },
    attachments: { count: 0, types: [] },
    auto: { kind, reason: kind === 'none' ? 'no robot signal' : 'test' },
  });
}

describe('robot signals only take privileges away', () => {
  const playbook = DEFAULT_PLAYBOOKS.billing;

  it('a reply to a verified human is auto-approved; the same plan for any robot parks', () => {
    if (!playbook) throw new Error('billing playbook missing');
    const replyPlan = playbook(viewOf(context('none')));
    expect(decideApproval(replyPlan, registry, context('none'))).toMatchObject({ decision: 'auto', reasons: [] });
    for (const kind of ROBOTS) {
      expect(decideApproval(replyPlan, registry, context(kind)), kind).toMatchObject({
        decision: 'park',
        reasons: [`step send: send_reply to robot mail (${kind})`],
      });
    }
  });

  it('robot plans only label, pass the validator and are auto-approved, with no model call', async () => {
    // A configured model that must never be asked about robot mail.
    const llm: LlmGateway = {
      mode: 'openai',
      model: 'test',
      structured: () => Promise.reject(new Error('a robot reached the model')),
      usage: () => ({ calls: 0, promptTokens: 0, completionTokens: 0, byRole: {} }),
    };
    for (const kind of ROBOTS) {
      const outcome = await planEmail({ llm, registry, cache: null }, viewOf(context(kind)));
      expect(outcome).toMatchObject({ planner: 'robot', validation: { ok: true } });
      expect(outcome.plan.steps.map((s) => s.tool)).toEqual(['apply_label']);
      expect(decideApproval(outcome.plan, registry, context(kind)).decision).toBe('auto');
    }
  });
});

describe('send_reply refuses robot mail (real Redis, real SMTP)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(['ann@customer.example']);
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('throws NEEDS_REVIEW before reading the draft, reserving a slot or sending', async () => {
    const { app } = rig.mailroom;
    const run = sendReply.run(
      { draft: DraftRef.parse('ur_draft_000000000000000000000000') },
      toolContext(
        app,
        { emailId: EmailId.parse('em_0123456789abcdef'), contentRef: EmailRef.parse('ur_content_000000000000000000000000'), context: context('loop') },
        'send',
        PlanId.parse('pl_0123456789abcdef'),
      ),
    );
    await expect(run).rejects.toBeInstanceOf(MailroomError);
    await expect(run).rejects.toMatchObject({ code: 'NEEDS_REVIEW', message: 'robot mail (loop) gets no automatic reply' });
    expect(await app.redis.zcard(app.keys.replyRate('global', 'all'))).toBe(0);
    expect(rig.smtp.messages).toHaveLength(0);
  });
});
