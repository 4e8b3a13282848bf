import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wouldDoEffects, readTrails } from '../../src/audit/trail-reading.js';
import { runProcess } from '../../src/cli/process-command.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { EmailId, MessageRef } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type CapturedMessage, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: 'silent' });
const MAILBOX = path.join(EXAMPLES, 'mailbox');

/** One effect as a support lead would compare it: the step, its tool and control args, and what it sends. */
interface Effect {
  step: string;
  tool: string;
  args: Record<string, unknown>;
  messages: Array<{ to: string; subject: string; text: string }>;
}

/**
 * Message text as compared: line ends and trailing space as SMTP and MIME leave them, and a
 * forward's fence token, which is random per composition (the email must not be able to guess it).
 */
function normalise(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(/(UNTRUSTED(?: END)?) [0-9a-f]{18}/g, '$1 <token>')
    .replace(/END UNTRUSTED [0-9a-f]{18}/g, 'END UNTRUSTED <token>')
    .trimEnd();
}

const byStep = (a: Effect, b: Effect) => a.step.localeCompare(b.step);

/** What shadow mode recorded, per email: the would-do events with their message texts read back by reference. */
async function shadowEffects(app: AppContext, ids: readonly EmailId[]): Promise<Map<string, Effect[]>> {
  const out = new Map<string, Effect[]>();
  for await (const { emailId, events } of readTrails(app, ids)) {
    const effects: Effect[] = [];
    for (const e of wouldDoEffects(events)) {
      const messages = [];
      for (const m of e.messages)
        messages.push({
          to: m.to.toLowerCase(),
          subject: m.subject,
          text: normalise(await app.content.getText(MessageRef.parse(m.textRef))),
        });
      effects.push({ step: `${e.planId}.${e.stepId}`, tool: e.tool, args: e.args, messages });
    }
    out.set(emailId, effects.sort(byStep));
  }
  return out;
}

/**
 * What the live run did, per email: every write or external step that finished, with the control
 * args it started with, and the messages the SMTP server received from it (matched by the
 * idempotency key each of our messages carries in X-Mailroom-Id).
 */
async function liveEffects(
  app: AppContext,
  ids: readonly EmailId[],
  received: readonly CapturedMessage[],
): Promise<Map<string, Effect[]>> {
  const byKey = new Map<string, CapturedMessage[]>();
  for (const m of received) {
    const key = String(m.parsed.headers.get('x-mailroom-id') ?? '').replace(/:mail$/, '');
    byKey.set(key, [...(byKey.get(key) ?? []), m]);
  }
  const out = new Map<string, Effect[]>();
  for await (const { emailId, events } of readTrails(app, ids)) {
    const args = new Map<string, Record<string, unknown>>();
    const effects: Effect[] = [];
    for (const e of events) {
      const step = `${String(e.data.planId)}.${String(e.data.stepId)}`;
      if (e.type === 'step_started' && typeof e.data.args === 'object' && e.data.args !== null)
        args.set(step, { ...e.data.args });
      if (e.type !== 'step_finished') continue;
      const tool = app.registry.get(String(e.data.tool));
      if (!tool || tool.risk === 'read') continue;
      const messages = (byKey.get(step) ?? []).map((m) => ({
        to: (m.envelope.to[0] ?? '').toLowerCase(),
        subject: m.parsed.subject ?? '',
        text: normalise(m.parsed.text ?? ''),
      }));
      effects.push({ step, tool: tool.name, args: args.get(step) ?? {}, messages });
    }
    out.set(emailId, effects.sort(byStep));
  }
  return out;
}

describe('shadow mode over examples/ (real Redis, real SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let shadowConfig: Config;
  let shadow: ProcessSummary;
  let shadowApp: AppContext;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    shadowConfig = exampleConfig({ redis, smtp });
    shadow = await runProcess(shadowConfig, logger, { paths: [MAILBOX], timeoutMs: 120_000, shadow: true });
    shadowApp = await createContext(shadowConfig, logger);
  });
  afterAll(async () => {
    await shadowApp?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('sends nothing, changes nothing, and ends every email shadowed (or quarantined, when it never got a plan)', async () => {
    expect(shadow.lost).toBe(0);
    expect(shadow.shadowed).toBeGreaterThan(0);
    expect(shadow.would_send).toBeGreaterThan(0);
    expect(shadow.sent).toBe(0);
    expect(shadow.shadowed + shadow.quarantined).toBe(shadow.processed);
    for (const e of shadow.emails)
      expect(e.state === 'shadowed' || (e.state === 'quarantined' && e.tools.length === 0), e.file).toBe(
        true,
      );
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages).toHaveLength(0);
    // No effect left a trace: no claimed side effect, label, flag, folder, ticket, escalation,
    // refund, deletion, account change, reply reservation or outbound index.
    const prefix = shadowConfig.prefix;
    for (const pattern of ['idem', 'labels', 'flags', 'folder', 'rate', 'outbound']) {
      expect(await shadowApp.redis.keys(`${prefix}:${pattern}:*`), pattern).toEqual([]);
    }
    const k = shadowApp.keys;
    for (const hash of [k.tickets(), k.escalations(), k.refunds(), k.deletions(), k.accountChanges()])
      expect(await shadowApp.redis.exists(hash), hash).toBe(0);
    expect(await shadowApp.queues.get('approval').count()).toBe(0);
  });

  it('records what each email would have had done, and a live run of the same emails then does exactly that', async () => {
    const ids = shadow.emails.map((e) => EmailId.parse(e.emailId));
    const would = await shadowEffects(shadowApp, ids);
    expect([...would.values()].flat().length).toBeGreaterThan(20);

    const liveConfig = exampleConfig({ redis, smtp });
    const live = await runProcess(liveConfig, logger, { paths: [MAILBOX], timeoutMs: 120_000 });
    expect(live.emails.map((e) => e.emailId)).toEqual(shadow.emails.map((e) => e.emailId));
    expect(live.sent).toBe(shadow.would_send);
    expect(live.shadowed).toBe(0);
    const received = await smtp.waitFor(live.sent, 10_000);
    const liveApp = await createContext(liveConfig, logger);
    try {
      const did = await liveEffects(liveApp, ids, received);
      // Every message the SMTP server received belongs to a step of an email.
      expect([...did.values()].flat().flatMap((e) => e.messages)).toHaveLength(received.length);
      for (const e of shadow.emails) expect(did.get(e.emailId), e.file).toEqual(would.get(e.emailId));
    } finally {
      await liveApp.close();
    }
    // And the shadow reason names the live outcome.
    const outcome = [
      ['would complete', 'completed'],
      ['would park', 'awaiting_approval'],
      ['would escalate', 'escalated'],
    ];
    for (const [i, e] of shadow.emails.entries()) {
      if (e.state === 'quarantined') continue;
      const expected = outcome.find(([p]) => e.reason.startsWith(p ?? '-'))?.[1];
      expect(expected, e.file).toBeDefined();
      expect(live.emails[i]?.state, e.file).toBe(expected);
    }
  });

  it('a second shadow run of the same mail is a duplicate and records nothing more', async () => {
    const again = await runProcess(shadowConfig, logger, {
      paths: [path.join(MAILBOX, '01-invoice-copy-request.eml')],
      timeoutMs: 10_000,
      shadow: false,
    });
    expect(again).toMatchObject({ processed: 1, duplicates: 1, sent: 0, would_send: 0 });
  });
});
