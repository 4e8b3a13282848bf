import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalJobId } from '../../src/executor/review-ids.js';
import { readReview } from '../../src/executor/review-record.js';
import { PlanId, type EmailId } from '../../src/kernel/ids.js';
import { reviewUrl } from '../../src/web/review-html.js';
import { launchBrowser, loopbackContext } from '../harness/browser.js';
import { waitFor } from '../harness/mail.js';
import { basic, REVIEWERS, startReviewDaemon, type ReviewDaemon } from '../harness/review-daemon.js';

/** Screenshots a person can look at after the run (CI keeps .mailroom/artifacts/). */
const ARTIFACTS = path.resolve(import.meta.dirname, '../../.mailroom/artifacts');

describe('the review page: a parked plan read as a review, decided with its effects stated (headless Chromium)', () => {
  let d: ReviewDaemon;
  let browser: Browser;
  let page: Page;
  let blocked: string[];
  const approveFile = '06-refund-after-closing-studio.eml';
  const rejectFile = '07-refund-duplicate-seats.eml';
  const forgedFile = '08-remboursement-commande.eml';

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    d = await startReviewDaemon([approveFile, rejectFile, forgedFile]);
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
  const id = (file: string) => d.ids[file] as EmailId;
  const jobIdOf = async (emailId: EmailId) => {
    const planId = PlanId.parse((await app().ledger.get(emailId))?.planId);
    const review = await readReview(app(), planId);
    if (!review) throw new Error('no review');
    return approvalJobId(planId, review.record.seq);
  };
  const shownReply = async (emailId: EmailId) => {
    const review = await readReview(app(), PlanId.parse((await app().ledger.get(emailId))?.planId));
    return review?.record.effects.find((e) => e.tool === 'send_reply')?.message?.text ?? '';
  };

  it('Bull Board links each parked plan to its review, which states what approving does', async () => {
    await page.goto(`${d.origin}/admin/queues/queue/approval?status=delayed`);
    const link = page.getByRole('link', { name: 'Review and decide' });
    await link.first().waitFor();
    expect(await link.count()).toBe(3);
    // The job's own page offers what Mailroom allows (promote, remove, copy), not edit, duplicate or delay.
    await link.first().waitFor();
    await page.goto(`${d.origin}/admin/queues/queue/approval/${await jobIdOf(id(approveFile))}`);
    await page.locator('button:has(svg.lucide-corner-up-left)').first().waitFor();
    expect(await page.locator('button:has(svg.lucide-trash-2), button:has(svg.lucide-trash2)').first().isVisible()).toBe(true);
    for (const icon of ['lucide-pencil', 'lucide-files', 'lucide-clock']) {
      const buttons = page.locator(`button:has(svg.${icon})`);
      expect(await buttons.count(), `Bull Board still renders ${icon}`).toBeGreaterThan(0);
      for (const b of await buttons.all()) expect(await b.isVisible(), icon).toBe(false);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-page-0-board-job.png') });
    await page.goto(`${d.origin}${reviewUrl(id(approveFile))}`);
    await expect(page.title()).resolves.toBe('Review · refund · acct_1006 · $49.00 · 2 effects');
    const effects = page.locator('article.effect');
    expect(await effects.count()).toBe(2);
    expect(await effects.nth(0).locator('h3').textContent()).toBe('1 of 2 · Refund 49.00 USD of order ORD-10234 to account acct_1006');
    // The reply as it will be sent, every line, in a text block (not a JSON array of strings).
    const message = (await effects.nth(1).locator('pre.message').textContent()) ?? '';
    expect(message.trim()).toBe((await shownReply(id(approveFile))).trim());
    const approve = page.locator('#approve');
    expect(await approve.textContent()).toMatch(/^Approve: refund 49\.00 USD of order ORD-10234 to account acct_1006; reply to sarah\.okafor@lumenstudio\.example/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-page-1-parked.png'), fullPage: true });
  });

  it('Approve ends in a success state naming the reviewer; exactly the shown reply goes out, once', async () => {
    const emailId = id(approveFile);
    const shown = await shownReply(emailId);
    await page.goto(`${d.origin}${reviewUrl(emailId)}`);
    await page.locator('#approve').click();
    const banner = page.locator('.banner.done');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toMatch(/^Approved by alice at \d{4}-\d\d-\d\d \d\d:\d\d UTC\. The plan runs on from its gate with exactly the effects below\./);
    expect(await page.locator('#approve, #reject').count()).toBe(0);
    await waitFor('the approved plan to complete', async () => ((await app().ledger.get(emailId))?.state === 'completed' ? true : undefined));
    const [mail] = await d.smtp.waitFor(1, 10_000);
    expect(mail?.parsed.text?.replace(/\r\n/g, '\n').trim()).toBe(shown.trim());
    await page.reload();
    expect(await page.locator('.banner.done').textContent()).toContain('The email is now completed');
    // The refund's own history note is for the decision, not about the refund it approved.
    expect(await page.locator('.note').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-page-2-approved.png'), fullPage: true });
    expect(d.smtp.messages).toHaveLength(1);
    expect((await app().audit.read(emailId)).filter((e) => e.type === 'approved' && e.actor === 'alice')).toHaveLength(1);
  });

  it('Reject needs a reason, records it, and sends nothing', async () => {
    const emailId = id(rejectFile);
    await page.goto(`${d.origin}${reviewUrl(emailId)}`);
    await page.locator('#reject').click();
    // The browser refuses an empty reason (required): still pending.
    expect((await app().ledger.get(emailId))?.state).toBe('awaiting_approval');
    await page.locator('#reason').fill('seats were refunded by hand last week');
    await page.locator('#reject').click();
    await page.locator('.banner.rejected').waitFor({ timeout: 10_000 });
    expect(await page.locator('.banner.rejected').textContent()).toMatch(/^Rejected by alice at .+ Nothing below was done\./);
    expect(await app().ledger.get(emailId)).toMatchObject({ state: 'rejected', reason: 'rejected by alice: seats were refunded by hand last week' });
    await page.screenshot({ path: path.join(ARTIFACTS, 'review-page-3-rejected.png'), fullPage: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(d.smtp.messages).toHaveLength(1);
  });

  it('a decision from another site, without the page’s token, or on a decided plan decides nothing', async () => {
    const emailId = id(forgedFile);
    const review = await readReview(app(), PlanId.parse((await app().ledger.get(emailId))?.planId));
    const seq = String(review?.record.seq ?? 1);
    const post = (verdict: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${d.origin}${reviewUrl(emailId)}/${verdict}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { authorization: basic('bob', REVIEWERS.bob), 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
    // A page elsewhere that a signed-in browser posts from: it cannot know the token, and its Origin is not ours.
    const forged = await post('approve', { seq, token: 'guessed' }, { origin: 'https://evil.example' });
    expect(forged.status).toBe(409);
    expect(await forged.text()).toContain('Nothing was decided.');
    // Alice's token is alice's: bob cannot replay it.
    await page.goto(`${d.origin}${reviewUrl(emailId)}`);
    const alicesToken = (await page.locator('form.approve input[name=token]').getAttribute('value')) ?? '';
    expect((await post('approve', { seq, token: alicesToken })).status).toBe(409);
    expect((await post('reject', { seq: 'x', token: alicesToken })).status).toBe(400);
    expect((await app().ledger.get(emailId))?.state).toBe('awaiting_approval');
    expect((await app().audit.read(emailId)).some((e) => e.type === 'approved' || e.type === 'rejected')).toBe(false);
    // A second approval of a decided plan (another tab) says so instead of deciding again.
    await page.locator('#reason').fill('not a refund we make');
    await page.locator('#reject').click();
    await page.locator('.banner.rejected').waitFor({ timeout: 10_000 });
    const stale = await post('approve', { seq, token: alicesToken }, { authorization: basic('alice', REVIEWERS.alice), origin: d.origin });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toContain(`Not decided: ${emailId} is rejected, not awaiting approval.`);
  });

  it('no page asked any host but loopback (Bull Board’s web fonts are removed)', () => {
    expect(blocked).toEqual([]);
  });
});
