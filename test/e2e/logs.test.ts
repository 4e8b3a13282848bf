import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runProcess } from '../../src/cli/process-command.js';
import { createLogger } from '../../src/kernel/logger.js';
import { exampleConfig } from '../harness/example-config.js';
import { buildMail } from '../harness/mail-factory.js';
import { startModelServices, type ModelServices } from '../harness/model-services.js';
import { roleResponder, sequenceResponder } from '../harness/openai-server.js';
import { EXAMPLES } from '../fixtures/examples.js';

const SECRET_KEY = 'sk-LOGSECRET9f2c';
const CANARY = 'LOGCANARY7Q';

describe('logs at the default level carry ids, never email text or secrets', () => {
  let services: ModelServices;
  beforeAll(async () => {
    services = await startModelServices();
  });
  afterAll(async () => {
    await services?.close();
  });

  it('a run with failures, retries and quarantines logs nothing a sender wrote', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    // The planner endpoint fails at first (warnings are logged), a reader breaks its schema.
    services.llm.setResponder(
      roleResponder({
        planner: sequenceResponder([{ status: 503 }, { status: 503 }, { status: 503 }]),
        'sandbox:draft_reply': () => ({ content: JSON.stringify({ reply: '' }) }),
      }),
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-logs-'));
    const mailDir = path.join(dir, 'mail');
    mkdirSync(mailDir);
    writeFileSync(
      path.join(mailDir, 'canary.eml'),
      buildMail({
        from: 'ann@bakery.example',
        verified: true,
        displayName: `Ann ${CANARY}`,
        subject: `Invoice ${CANARY}`,
        text: `Please help ${CANARY}`,
        attachmentName: `${CANARY}.pdf`,
      }).raw,
    );
    writeFileSync(path.join(mailDir, 'broken.eml'), `From: x@y.example\r\nSubject: ${CANARY}\r\nContent-Type: multipart/mixed; boundary="nope"\r\n\r\n${CANARY}\r\n`);
    const config = exampleConfig({ ...services, env: { OPENAI_API_KEY: SECRET_KEY } });
    const summary = await runProcess(config, createLogger({ level: 'info', destination: sink }), {
      paths: [mailDir, path.join(EXAMPLES, 'mailbox', '24-inject-forward-all-invoices.eml')],
      timeoutMs: 30_000,
    });
    expect(summary.lost).toBe(0);
    const log = lines.join('');
    // Not vacuous: the run did log, with ids.
    expect(log).toContain('"emailId":"em_');
    expect(log).not.toContain(CANARY);
    expect(log).not.toContain(SECRET_KEY);
    expect(log).not.toContain('evil.example');
    expect(log).not.toContain('Ignore all previous');
  });

  it('at info, each email logs exactly one line as it comes to rest: ids, state and reason', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const mailbox = path.join(EXAMPLES, 'mailbox');
    const files = ['01-invoice-copy-request.eml', '21-spam-crypto-opportunity.eml', '41-malformed-no-from.eml', '45-cancellation-verified.eml'];
    const summary = await runProcess(exampleConfig({ redis: services.redis }), createLogger({ level: 'info', destination: sink }), {
      paths: files.map((f) => path.join(mailbox, f)),
      timeoutMs: 30_000,
    });
    const atRest = lines
      .join('')
      .split('\n')
      .filter((l) => l.includes('"msg":"email at rest"'))
      .map((l) => z.object({ level: z.number(), emailId: z.string(), state: z.string(), reason: z.string() }).parse(JSON.parse(l)));
    expect(atRest.map((r) => `${r.emailId} ${r.state}`).sort()).toEqual(summary.emails.map((e) => `${e.emailId} ${e.state}`).sort());
    expect(atRest.every((r) => r.level === 30)).toBe(true);
    expect(atRest.find((r) => r.state === 'quarantined')?.reason).toMatch(/^MAILROOM_EMAIL_MALFORMED: no From address/);
  });
});
