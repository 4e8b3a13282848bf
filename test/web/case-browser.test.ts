import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { reviewUrl } from '../../src/web/review-html.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { launchBrowser, loopbackContext } from '../harness/browser.js';
import { exampleConfig } from '../harness/example-config.js';
import { REVIEWERS } from '../harness/review-daemon.js';
import { restampExample } from '../harness/restamp-examples.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../.mailroom/artifacts');
const logger = createLogger({ level: 'silent' });
const example = (file: string) => readFileSync(path.join(EXAMPLES, 'mailbox', file), 'utf8');

/**
 * Issue 32 as a reviewer and a lead see it (headless Chromium): Dana's answer to our reply asks for
 * a refund and parks; its review shows the case (her earlier email, trusted facts only) and the
 * report shows the case figures.
 */
describe('cases on the review page and the report (headless Chromium)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  let origin: string;
  let followUpId = '';
  let caseId = '';

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [redis, smtp] = await Promise.all([startTestRedis(), startSmtpCapture()]);
    config = exampleConfig({
      redis,
      smtp,
      env: { MAILROOM_REVIEWERS: Object.entries(REVIEWERS).map(([n, p]) => `${n}:${p}`).join(',') },
      overrides: { http: { host: '127.0.0.1', port: 0, metrics: 'auth' } },
    });
    const first = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml')], timeoutMs: 30_000 });
    expect(first.emails[0]?.state).toBe('completed');
    const [reply] = await smtp.waitFor(1, 10_000);
    const ours = reply?.parsed.messageId ?? '';
    expect(ours).not.toBe('');
    // Dana answers our reply with a refund request, signed again by her domain as her MTA would.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-case-browser-'));
    const file = path.join(dir, 'dana-refund-follow-up.eml');
    const text = example('06-refund-after-closing-studio.eml')
      .replaceAll('sarah.okafor@lumenstudio.example', 'dana.whitfield@brightleaf.example')
      .replaceAll('lumenstudio.example', 'brightleaf.example')
      .replace('<bdef2230ef.b850977e@brightleaf.example>', `<dana-f1@brightleaf.example>\r\nIn-Reply-To: ${ours}\r\nReferences: ${ours}`)
      .replaceAll('ORD-10234', 'ORD-10265');
    writeFileSync(file, restampExample(text));
    const second = await runProcess(config, logger, { paths: [file], timeoutMs: 30_000 });
    expect(second.emails[0]?.state).toBe('awaiting_approval');
    followUpId = second.emails[0]?.emailId ?? '';
    daemon = await startDaemon(config, logger, { roles: ['triage', 'planner', 'executor', 'web'] });
    origin = `http://127.0.0.1:${daemon.http?.port ?? 0}`;
    const trail = await daemon.app.audit.read(EmailId.parse(followUpId));
    const event = trail.find((e) => e.type === 'case')?.data;
    expect(event).toMatchObject({ followUp: true });
    caseId = String(event?.caseId);
    browser = await launchBrowser();
    page = await (await loopbackContext(browser, { username: 'alice', password: REVIEWERS.alice })).context.newPage();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await daemon?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('the parked follow-up’s review shows its case: both emails, where each rests, whether we replied', async () => {
    await page.goto(`${origin}${reviewUrl(followUpId)}`);
    const table = page.locator('table.case');
    await table.waitFor({ timeout: 5_000 });
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).toContain(caseId);
    expect(body).toContain('2 emails');
    expect(await table.locator('tbody tr').count()).toBe(2);
    const rows = await table.locator('tbody tr').allTextContents();
    expect(rows[0]).toMatch(/completed/);
    expect(rows[0]).toMatch(/billing/);
    expect(rows[1]).toMatch(/awaiting|review|parked/i);
    await table.scrollIntoViewIfNeeded();
    await page.screenshot({ path: '/tmp/case-review.png', fullPage: true });
  });

  it('the report shows the case figures: first-contact resolution, reopen rate, emails per case', async () => {
    await page.goto(`${origin}/admin/report`);
    const body = (await page.locator('body').textContent()) ?? '';
    for (const label of ['cases resolved at first contact', 'cases reopened', 'emails per case']) expect(body).toContain(label);
    // One case, two emails: answered, then reopened by the follow-up.
    const tile = (key: string) => page.locator(`.tile[data-key="${key}"] .figure`).textContent();
    expect(await tile('cases.turns_per_case')).toBe('2');
    expect(await tile('cases.reopen_rate')).toBe('100%');
    expect(await tile('cases.first_contact_resolution')).toBe('0%');
    await page.screenshot({ path: '/tmp/case-report.png', fullPage: true });
  });
});
