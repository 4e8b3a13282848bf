import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config/config.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { createLlmGateway } from '../../src/llm/gateway.js';
import { createLogger } from '../../src/kernel/logger.js';
import { startOpenAiServer, type OpenAiTestServer } from '../harness/openai-server.js';

const CANARY = 'zqCANARY4242';
let server: OpenAiTestServer;

beforeAll(async () => {
  server = await startOpenAiServer();
});
afterAll(async () => {
  await server.close();
});

function gateway() {
  const config = loadConfig({ env: { MAILROOM_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'mailroom-llm-')) } });
  return createLlmGateway({ ...config, openai: { apiKey: 'k', baseUrl: server.url, model: 'm', timeoutMs: 5_000, maxRetries: 0 } }, createLogger({ level: 'silent' }));
}

describe('an LLM endpoint error carries no text of the request into Mailroom', () => {
  // A proxy or model server may echo the prompt (the email, for a sandboxed reader) in its error
  // body; the error's message becomes a quarantine reason: the ledger, the audit, the dead-letter
  // queue, the report page and the "email at rest" log line.
  it.each([429, 500, 503, 400])('HTTP %i echoing the prompt: the error says the status, never the body', async (status) => {
    server.setResponder((req) => ({ status, body: { error: { message: `could not handle: ${req.raw.slice(0, 2000)}`, type: 'x', code: null } } }));
    const call = gateway().structured({
      role: 'sandbox:classify_email',
      schema: z.object({ a: z.number() }).strict(),
      schemaName: 'r',
      system: 'classify',
      user: `the email: ${CANARY}`,
      maxOutputTokens: 10,
    });
    const err: unknown = await call.then(() => null, (e: unknown) => e);
    if (!(err instanceof MailroomError)) throw new Error(`expected a MailroomError, got ${String(err)}`);
    expect(err.message).not.toContain(CANARY);
    expect(err.message).toContain(`HTTP ${status}`);
  });
});
