import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import type { OpenAiTestServer } from './openai-server.js';
import type { TestRedis } from './redis.js';
import type { SmtpCapture } from './smtp-capture.js';

/** The test services a Mailroom under test talks to; without `llm` it plans offline. */
export interface ExampleServices {
  redis: TestRedis;
  smtp?: SmtpCapture;
  llm?: OpenAiTestServer;
  /** `MAILROOM_DATA_DIR`; a fresh temporary folder when absent. */
  dataDir?: string;
}

/**
 * The environment that points Mailroom at the test services: a fresh queue prefix on the test
 * Redis, the SMTP capture and the OpenAI test server when given. Also what a CLI child process gets.
 */
export function exampleEnv({ redis, smtp, llm, dataDir }: ExampleServices): Record<string, string> {
  return {
    REDIS_URL: redis.url,
    MAILROOM_PREFIX: redis.prefix(),
    MAILROOM_DATA_DIR: dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mailroom-test-')),
    ...(smtp ? { SMTP_URL: smtp.url } : {}),
    ...(llm ? { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: llm.url } : {}),
  };
}

/** examples/mailroom.config.json loaded against the test services, with extra `env` and `overrides`. */
export function exampleConfig(options: ExampleServices & { env?: Record<string, string>; overrides?: Partial<Config> }): Config {
  return loadConfig({
    env: { ...exampleEnv(options), ...options.env },
    configPath: EXAMPLE_CONFIG_FILE,
    ...(options.overrides ? { overrides: options.overrides } : {}),
  });
}

/**
 * Writes examples/mailroom.config.json into `dir` (its accounts and KB as absolute paths) with
 * `extra` keys over it, for a `mailroom` child process to read; returns the file's path.
 */
export function writeExampleConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const example = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, 'mailroom.config.json');
  writeFileSync(file, JSON.stringify({ ...example, accountsFile: path.join(EXAMPLES, 'accounts.json'), kbDir: path.join(EXAMPLES, 'kb'), ...extra }));
  return file;
}
