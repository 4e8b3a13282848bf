import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailroomReport } from '../../src/report/report.js';
import { ProcessSummary } from '../../src/cli/summary.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { runMailroom } from '../harness/cli.js';
import { exampleEnv } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';


const REPO = path.resolve(import.meta.dirname, '../..');

function mailroom(args: string[], env: Record<string, string>, cwd?: string) {
  return runMailroom(args, env, { timeoutMs: 120_000, ...(cwd ? { cwd } : {}) });
}

describe('mailroom process --shadow and mailroom report (CLI, real Redis and SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-shadow-cli-'));
  beforeAll(async () => {
    [redis, smtp] = await Promise.all([startTestRedis(), startSmtpCapture()]);
  });
  afterAll(async () => {
    await smtp?.close();
    await redis?.close();
  });

  it('process examples/ --shadow --json: shadowed > 0, would_send > 0, sent 0, and the SMTP server hears nothing; report agrees', async () => {
    const env = exampleEnv({ redis, smtp, dataDir: tmp });
    const res = await mailroom(
      ['process', EXAMPLES, '--shadow', '--json', '--config', EXAMPLE_CONFIG_FILE],
      env,
    );
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary.shadowed).toBeGreaterThan(0);
    expect(summary.would_send).toBeGreaterThan(0);
    expect(summary.sent).toBe(0);
    expect(summary.lost).toBe(0);
    // The keys scripts already read are still there.
    for (const key of [
      'processed',
      'completed',
      'awaiting_approval',
      'escalated',
      'quarantined',
      'rejected',
      'lost',
      'duplicates',
      'robots',
      'tools',
    ]) {
      expect(res.stdout).toContain(`"${key}"`);
    }
    expect(smtp.messages).toHaveLength(0);

    const json = await mailroom(['report', '--since', '1h', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const report = MailroomReport.parse(JSON.parse(json.stdout));
    expect(report.totals.emails).toBe(summary.processed);
    expect(report.totals.shadowed).toBe(summary.shadowed);
    expect(report.totals.quarantined).toBe(summary.quarantined);
    expect(report.totals.shadow.would_send).toBe(summary.would_send);

    const text = await mailroom(['report'], env);
    expect(text.stdout).toContain('mailbox support@acme.example');
    expect(text.stdout).toMatch(/policy would auto-approve \d+ of \d+ plans/);
    const bad = await mailroom(['report', '--since', 'last week'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('MAILROOM_CONFIG_INVALID');
  });

  it('exactly `mailroom process examples/ --shadow --json` (no --config): the examples carry their config, so shadowed > 0, would_send > 0, sent 0', async () => {
    // Without the config found beside the input, nobody is a verified sender and nothing would be sent.
    const env = exampleEnv({ redis, smtp, dataDir: mkdtempSync(path.join(tmp, 'exact-')) });
    const res = await mailroom(['process', 'examples/', '--shadow', '--json'], env, REPO);
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary.shadowed).toBeGreaterThan(0);
    expect(summary.would_send).toBeGreaterThan(0);
    expect(summary.sent).toBe(0);
    expect(smtp.messages).toHaveLength(0);
    expect(res.stderr).toContain(`using ${path.join('examples', 'mailroom.config.json')}`);
  });

  it('process never loads a config found among other mail input (only the bundled examples\' own): it names it and runs on the defaults', async () => {
    const eml = readFileSync(path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml'));
    const dir = mkdtempSync(path.join(tmp, 'carry-'));
    writeFileSync(path.join(dir, 'mail.eml'), eml);
    const env = exampleEnv({ redis, smtp, dataDir: mkdtempSync(path.join(tmp, 'carry-data-')) });
    const bare = await mailroom(['process', dir, '--json'], env);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stderr).not.toContain('using');
    // Nobody is verified on the built-in defaults: the invoice request escalates.
    expect(ProcessSummary.parse(JSON.parse(bare.stdout)).escalated).toBe(1);
    // A config dropped among the mail (here one that would verify the sender and reply) is not
    // taken: whoever can write into a mail folder must not choose the relay or the rules.
    writeFileSync(path.join(dir, 'mailroom.config.json'), readFileSync(EXAMPLE_CONFIG_FILE));
    const planted = await mailroom(['process', dir, '--json'], { ...env, MAILROOM_DATA_DIR: mkdtempSync(path.join(tmp, 'carry-data-')) });
    expect(planted.code, planted.stderr).toBe(0);
    expect(planted.stderr).toContain('not using');
    expect(planted.stderr).toContain('--config');
    const summary = ProcessSummary.parse(JSON.parse(planted.stdout));
    expect(summary.escalated).toBe(1);
    expect(summary.sent).toBe(0);
    expect(smtp.messages).toHaveLength(0);
  });

  it('mailbox.shadow in the config puts its mail in shadow without the flag', async () => {
    const file: Record<string, unknown> = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
    const config = path.join(tmp, 'shadow.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        ...file,
        mailbox: { address: 'support@acme.example', name: 'Acme Cloud Support', shadow: true },
        accountsFile: path.join(EXAMPLES, 'accounts.json'),
        kbDir: path.join(EXAMPLES, 'kb'),
      }),
    );
    const env = exampleEnv({ redis, smtp, dataDir: tmp });
    const res = await mailroom(
      [
        'process',
        path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml'),
        '--json',
        '--config',
        config,
      ],
      env,
    );
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ processed: 1, shadowed: 1, would_send: 1, sent: 0 });
    expect(smtp.messages).toHaveLength(0);
    // The reply it would have sent, read back by reference.
    const audit = await mailroom(['audit', summary.emails[0]?.emailId ?? '', '--texts'], env);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toContain('would_do');
    expect(audit.stdout).toMatch(/----- would send \(step send, send_reply\) to \S+@\S+: Re: your message about billing -----\n.*\S/);
  });
});
