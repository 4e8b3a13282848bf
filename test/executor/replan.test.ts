import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import { createContext } from '../../src/app/context.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { classifierReply } from '../fixtures/model-answers.js';
import { exampleConfig } from '../harness/example-config.js';
import { buildMail } from '../harness/mail-factory.js';
import { startModelServices, type ModelServices } from '../harness/model-services.js';
import { roleResponder, sequenceResponder } from '../harness/openai-server.js';

const logger = createLogger({ level: 'silent' });
const step = (id: string, tool: string, args: Record<string, unknown>, checkpoint = false) => ({ id, tool, args, checkpoint });
const KB = step('kb', 'search_kb', { topic: '{{context.category.name}}' });
const DRAFT = step('draft', 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.kb.output.articleId}}' });
const SEND = step('send', 'send_reply', { draft: '{{steps.draft.output.ref}}' });
const ESCALATE = { steps: [step('label', 'apply_label', { label: 'mailroom/needs-human' }), step('esc', 'escalate', { reason: 'step_failed' })] };

describe('the executor replans from trusted facts only', () => {
  let services: ModelServices;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-replan-'));

  beforeAll(async () => {
    services = await startModelServices();
  });
  afterAll(async () => {
    await services?.close();
  });

  async function run(name: string, planner: Parameters<typeof roleResponder>[0]['planner'], draft: Parameters<typeof roleResponder>[0]['planner']) {
    services.llm.reset();
    services.llm.setResponder(
      roleResponder({
        planner,
        'sandbox:classify_email': classifierReply('billing', {}, 1),
        'sandbox:suggest_reply': draft,
      }),
    );
    const config = exampleConfig({ ...services, dataDir: tmp });
    const dir = path.join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const secret = `SECRETBODY${name.toUpperCase()}`;
    writeFileSync(path.join(dir, 'm.eml'), buildMail({ from: `${name}@customer.example`, verified: true, subject: 'Invoice', text: `Invoice wrong ${secret}` }).raw);
    const summary = await runProcess(config, logger, { paths: [dir], timeoutMs: 30_000 });
    const app = await createContext(config, logger);
    const trail = await app.audit.read(EmailId.parse(summary.emails[0]?.emailId)).finally(() => app.close());
    return { summary, trail, secret };
  }

  it('a permanently failing step leads to a replan whose request holds no tool output text', async () => {
    const { summary, trail, secret } = await run(
      'fail',
      sequenceResponder([{ content: JSON.stringify({ steps: [KB, DRAFT, SEND] }) }, { content: JSON.stringify(ESCALATE) }]),
      // The sandboxed drafter breaks its schema: a step error, not a crash.
      () => ({ content: JSON.stringify({ reply: '' }) }),
    );
    expect(summary.emails[0]?.state).toBe('escalated');
    const planner = services.llm.requestsByRole('planner');
    expect(planner).toHaveLength(2);
    const replanRequest = planner[1]?.raw ?? '';
    expect(replanRequest).toContain('step_failed');
    expect(replanRequest).toContain('MAILROOM_LLM_OUTPUT_INVALID');
    // The KB step's output was text (its title): it must not travel into the planner.
    const kbFinished = trail.find((e) => e.type === 'step_finished' && e.data.tool === 'search_kb');
    const title = (kbFinished?.data.output as { title?: string } | undefined)?.title;
    expect(title).toBeTruthy();
    expect(replanRequest).not.toContain(title);
    expect(replanRequest).not.toContain(secret);
    // Nor does the verified sender's address or domain: a replan sees the planner's view only.
    expect(replanRequest).not.toContain('customer.example');
    expect(trail.map((e) => e.type)).toContain('replanned');
    expect(trail.filter((e) => e.type === 'step_failed')).toHaveLength(1);
    expect(trail.filter((e) => e.type === 'step_started').map((e) => e.data.tool)).toEqual(['search_kb', 'suggest_reply', 'apply_label', 'escalate']);
  });

  it('a checkpoint asks the planner again, which may replace the rest of the plan', async () => {
    const toCustomers = () => services.smtp.messages.filter((m) => m.envelope.to.some((to) => !to.endsWith('@acme.example'))).length;
    const before = toCustomers();
    const { summary, trail } = await run(
      'checkpoint',
      sequenceResponder([{ content: JSON.stringify({ steps: [{ ...KB, checkpoint: true }, DRAFT, SEND] }) }, { content: JSON.stringify(ESCALATE) }]),
      () => ({ content: JSON.stringify({ reply: 'Hello, see our billing article.' }) }),
    );
    const planner = services.llm.requestsByRole('planner');
    expect(planner).toHaveLength(2);
    expect(planner[1]?.raw).toContain('checkpoint');
    expect(planner[1]?.raw).not.toContain('customer.example');
    expect(summary.emails[0]?.state).toBe('escalated');
    expect(trail.filter((e) => e.type === 'step_started').map((e) => e.data.tool)).toEqual(['search_kb', 'apply_label', 'escalate']);
    expect(toCustomers()).toBe(before);
  });
});
