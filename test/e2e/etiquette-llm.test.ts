import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessSummary } from '../../src/cli/summary.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES, EXPECTED } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { startModelServices, type ModelServices } from '../harness/model-services.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
const ROBOT_FILES = Object.entries(EXPECTED).filter(([, e]) => e.robot !== 'none').map(([f]) => f);
/** A human email whose subject certainly reaches a sandboxed reader: the control for the canary. */
const HUMAN_CONTROL = '09-bug-csv-export-crash.eml';

/** Appends `token` to the top-level Subject, which every sandboxed reader is shown. */
function withSubjectCanary(raw: string, token: string): string {
  const end = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, end).replace(/^(Subject:[^\r\n]*)/im, `$1 ${token}`);
  return head + raw.slice(end);
}

function robotCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const file of ROBOT_FILES) {
    const kind = EXPECTED[file]?.robot ?? '?';
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe('mailroom process --json with a model configured spends nothing on robots', () => {
  let services: ModelServices;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-etiquette-llm-'));

  async function processJson(dir: string): Promise<ProcessSummary> {
    const { stdout } = await run(process.execPath, [BIN, 'process', dir, '--json', '--config', EXAMPLE_CONFIG_FILE], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...exampleEnv({ ...services, dataDir: tmp }) },
      timeout: 60_000,
    });
    return ProcessSummary.parse(JSON.parse(stdout));
  }

  beforeAll(async () => {
    services = await startModelServices();
  });
  afterAll(async () => {
    await services?.close();
  });

  it('robot mail alone: zero model requests, robots counted by kind, no reply', async () => {
    const dir = path.join(tmp, 'robots');
    mkdirSync(dir);
    for (const file of ROBOT_FILES) writeFileSync(path.join(dir, file), readFileSync(path.join(EXAMPLES, 'mailbox', file)));
    const summary = await processJson(dir);
    expect(summary).toMatchObject({ processed: ROBOT_FILES.length, completed: ROBOT_FILES.length, lost: 0, robots: robotCounts() });
    expect(summary.llm).toEqual({ provider: 'openai', calls: 0, byRole: {} });
    expect(services.llm.requests).toHaveLength(0);
    expect(services.smtp.messages).toHaveLength(0);
  });

  it('all of examples/: no request carries a robot email, though human mail reaches the model', async () => {
    services.llm.reset();
    services.smtp.reset();
    const dir = path.join(tmp, 'all');
    mkdirSync(dir);
    const robotIds: string[] = [];
    for (const file of readdirSync(path.join(EXAMPLES, 'mailbox'))) {
      const raw = readFileSync(path.join(EXAMPLES, 'mailbox', file), 'utf8');
      const robot = ROBOT_FILES.includes(file);
      if (robot) robotIds.push(/^Message-ID:\s*(\S+)/im.exec(raw)?.[1] ?? '');
      const token = robot ? `CANARY-ROBOT-${file.slice(0, 2)}` : file === HUMAN_CONTROL ? 'CANARY-HUMAN' : null;
      writeFileSync(path.join(dir, file), token ? withSubjectCanary(raw, token) : raw);
    }
    const summary = await processJson(dir);
    expect(summary.lost).toBe(0);
    expect(summary.robots).toEqual(robotCounts());
    expect(summary.llm.provider).toBe('openai');
    expect(services.llm.requests.length).toBeGreaterThan(0);
    expect(services.llm.requests.some((r) => r.raw.includes('CANARY-HUMAN'))).toBe(true);
    expect(services.llm.requests.filter((r) => r.raw.includes('CANARY-ROBOT')).map((r) => r.role)).toEqual([]);
    const replied = new Set(services.smtp.messages.map((m) => m.parsed.inReplyTo));
    expect(robotIds.filter((id) => replied.has(id))).toEqual([]);
    for (const row of summary.emails.filter((e) => e.robot !== '')) expect(row).toMatchObject({ state: 'completed', reason: row.robot, tools: ['apply_label'] });
  });
});
