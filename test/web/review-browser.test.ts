import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalJobId } from '../../src/executor/review-ids.js';
import { readReview } from '../../src/executor/review-record.js';
import { PlanId, type EmailId } from '../../src/kernel/ids.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { launchBrowser, loopbackContext } from '../harness/browser.js';
import { waitFor } from '../harness/mail.js';
import { REVIEWERS, startReviewDaemon, type ReviewDaemon } from '../harness/review-daemon.js';

/** Screenshots a person can look at after the run (CI keeps .mailroom/artifacts/). */
const ARTIFACTS = path.resolve(import.meta.dirname, '../../.mailroom/artifacts');

/** A verified customer's refund whose text and display name carry HTML and a bidi override. */
function hostileRefund(dir: string): string {
  const raw = readFileSync(path.join(EXAMPLES, 'mailbox', '06-refund-after-closing-studio.eml'), 'utf8')
    .replaceAll('sarah.okafor@lumenstudio.example', 'dana.whitfield@brightleaf.example')
    .replaceAll('lumenstudio.example', 'brightleaf.example')
    .replace('From: Sarah Okafor', 'From: "<b id=pwn-name>Dana</b>"')
    .replace('<bdef2230ef.b850977e@brightleaf.example>', '<hostile-1@brightleaf.example>')
    .replaceAll('ORD-10234', 'ORD-10265')
    .replace('Thank you for understanding,', '<img id=pwn-img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> \u202Eevil\u202C\nThank you for understanding,');
  const file = path.join(dir, 'hostile-refund.eml');
  writeFileSync(file, raw);
  return file;
}

describe('a reviewer in a real browser (headless Chromium on Bull Board)', () => {
  let d: ReviewDaemon;
  let browser: Browser;
  let page: Page;
  let blocked: string[];
  const approveFile = '06-refund-after-closing-studio.eml';
  const rejectFile = '07-refund-duplicate-seats.eml';
  let hostile: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    hostile = hostileRefund(mkdtempSync(path.join(os.tmpdir(), 'mailroom-hostile-')));
    d = await startReviewDaemon([approveFile, rejectFile, hostile]);
    browser = await launchBrowser();
    const signedIn = await loopbackContext(browser, { username: 'alice', password: REVIEWERS.alice });
    blocked = signedIn.blocked;
    page = await signedIn.context.newPage();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await d?.close();
  });

  const app = () => d.daemon.app;
  async function jobIdOf(emailId: EmailId): Promise<string> {
    const planId = PlanId.parse((await app().ledger.get(emailId))?.planId);
    const review = await readReview(app(), planId);
    if (!review) throw new Error('no review');
    return approvalJobId(planId, review.record.seq);
  }
  /** Opens a parked plan's own page; returns its card and its JSON view. */
  async function openJob(emailId: EmailId): Promise<{ card: Locator; data: Locator }> {
    await page.goto(`${d.origin}/admin/queues/queue/approval/${await jobIdOf(emailId)}`);
    const card = page.locator('div[class^="card-"]').filter({ has: page.locator('span[class^="jobId-"]') }).first();
    const data = card.getByRole('tree', { name: 'JSON view' });
    await data.waitFor();
    return { card, data };
  }
  /** Scrolls the job's data box (Bull Board's tab panel) so that `text` is at its top, for a screenshot. */
  async function scrollTo(card: Locator, text: string): Promise<void> {
    const box = card.locator('[role="tabpanel"]').first();
    const target = card.getByText(text, { exact: false }).first();
    const [b, t] = [await box.boundingBox(), await target.boundingBox()];
    if (!b || !t) throw new Error(`cannot find ${text}`);
    await box.hover();
    await page.mouse.wheel(0, t.y - b.y - 8);
    await page.waitForTimeout(300);
  }

  it('lists the parked plans by trusted facts only', async () => {
    await page.goto(`${d.origin}/admin/queues/queue/approval?status=delayed`);
    await page.getByText('refund · acct_1006 · $49.00 · 2 effects').waitFor();
    await page.getByText('refund · acct_1001 · $49.00 · 2 effects').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-1-approval-queue.png') });
  });

  it('shows a parked refund: the amount and the full reply text, and the email as inert text', async () => {
    const { card, data } = await openJob(d.ids[approveFile] as EmailId);
    const text = (await data.textContent()) ?? '';
    expect(text).toContain('Refund 49.00 USD of order ORD-10234 to account acct_1006');
    const review = await readReview(app(), PlanId.parse((await app().ledger.get(d.ids[approveFile] as EmailId))?.planId));
    const reply = review?.record.effects.find((e) => e.tool === 'send_reply')?.message?.text ?? '';
    expect(reply).toContain('Hello Sarah');
    for (const line of reply.split('\n').filter(Boolean)) expect(text).toContain(line);
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-2-parked-refund.png') });
    await scrollTo(card, '2 of 2 · Reply to');
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-3-reply-text.png') });

    const other = await openJob(d.ids['hostile-refund.eml'] as EmailId);
    const hostileText = (await other.data.textContent()) ?? '';
    expect(hostileText).toContain('<img id=pwn-img src=x onerror=');
    expect(hostileText).toContain('<script>window.__pwned=2</script>');
    expect(hostileText).toContain('⟨U+202E⟩evil');
    expect(await page.locator('#pwn-img, #pwn-name, script:text("__pwned")').count()).toBe(0);
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');
    await scrollTo(other.card, 'email — UNTRUSTED');
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-4-untrusted-email.png') });
  });

  it("approves with Bull Board's promote: exactly the shown reply reaches SMTP and the audit names the reviewer", async () => {
    const emailId = d.ids[approveFile] as EmailId;
    const review = await readReview(app(), PlanId.parse((await app().ledger.get(emailId))?.planId));
    const shown = review?.record.effects.find((e) => e.tool === 'send_reply')?.message?.text ?? '';
    const { card } = await openJob(emailId);
    await card.locator('button:has(svg.lucide-corner-up-left)').click();
    await confirmIfAsked();
    const rec = await waitFor('the approved plan to complete', async () => {
      const r = await app().ledger.get(emailId);
      return r?.state === 'completed' ? r : undefined;
    });
    expect(rec.reason).toBe('');
    const [mail] = await d.smtp.waitFor(1, 10_000);
    expect(mail?.envelope.to).toEqual(['sarah.okafor@lumenstudio.example']);
    expect(mail?.parsed.text?.replace(/\r\n/g, '\n').trim()).toBe(shown.trim());
    const trail = await app().audit.read(emailId);
    expect(trail.find((e) => e.type === 'approved' && e.actor !== 'policy')?.actor).toBe('alice');
  });

  it("rejects with Bull Board's remove: nothing is sent", async () => {
    const emailId = d.ids[rejectFile] as EmailId;
    const { card } = await openJob(emailId);
    await card.locator('button:has(svg.lucide-trash-2), button:has(svg.lucide-trash2)').first().click();
    await confirmIfAsked();
    const rec = await waitFor('the rejection', async () => {
      const r = await app().ledger.get(emailId);
      return r?.state === 'rejected' ? r : undefined;
    });
    expect(rec.reason).toBe('rejected by alice: rejected in Bull Board');
    await new Promise((r) => setTimeout(r, 500));
    expect(d.smtp.messages).toHaveLength(1);
    expect((await app().audit.read(emailId)).some((e) => e.type === 'step_started' && e.data.tool === 'issue_refund')).toBe(false);
    await page.goto(`${d.origin}/admin/queues/queue/approval?status=delayed`);
    await page.getByText('refund · acct_1001').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-5-after-decisions.png') });
  });

  it('reached no host but loopback', () => {
    expect(blocked).toEqual([]);
  });

  async function confirmIfAsked(): Promise<void> {
    const confirm = page.getByRole('alertdialog').or(page.getByRole('dialog'));
    if (await confirm.isVisible({ timeout: 1_500 }).catch(() => false)) {
      await confirm.getByRole('button').filter({ hasNotText: /cancel/i }).last().click();
    }
  }
});
