import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTING_STATES } from '../../src/audit/email-ledger.js';
import { approvalJobId } from '../../src/executor/review-ids.js';
import { readReview } from '../../src/executor/review-record.js';
import { PlanId, type EmailId } from '../../src/kernel/ids.js';
import { basic, REVIEWERS, startReviewDaemon, type ReviewDaemon } from '../harness/review-daemon.js';
import { waitFor } from '../harness/mail.js';

const BOARD = '/admin/queues';
const alice = { authorization: basic('alice', REVIEWERS.alice) };
const bob = { authorization: basic('bob', REVIEWERS.bob) };

describe('Bull Board on the web role: authentication and what a dashboard may write', () => {
  let d: ReviewDaemon;
  const files = ['06-refund-after-closing-studio.eml', '07-refund-duplicate-seats.eml', '08-remboursement-commande.eml'] as const;

  beforeAll(async () => {
    d = await startReviewDaemon(files);
  });
  afterAll(async () => {
    await d?.close();
  });

  const app = () => d.daemon.app;
  const id = (file: (typeof files)[number]) => d.ids[file] as EmailId;
  async function jobIdOf(emailId: EmailId): Promise<string> {
    const planId = PlanId.parse((await app().ledger.get(emailId))?.planId);
    const review = await readReview(app(), planId);
    if (!review) throw new Error('no review');
    return approvalJobId(planId, review.record.seq);
  }
  async function snapshot(emailId: EmailId) {
    const jobId = await jobIdOf(emailId);
    const job = await app().queues.get('approval').getJob(jobId);
    const planId = PlanId.parse((await app().ledger.get(emailId))?.planId);
    return { data: job?.data as unknown, state: await job?.getState(), review: await app().redis.hgetall(app().keys.review(planId)), ledger: (await app().ledger.get(emailId))?.state };
  }
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
    fetch(`${d.origin}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('answers 401 on every page and API without credentials or with a wrong password; /healthz stays open', async () => {
    const jobId = await jobIdOf(id('06-refund-after-closing-studio.eml'));
    const routes: Array<[string, string]> = [
      ['GET', BOARD],
      ['GET', `${BOARD}/queue/approval`],
      ['GET', `${BOARD}/api/queues`],
      ['GET', `${BOARD}/api/queues/approval/${jobId}`],
      ['GET', `${BOARD}/static/images/logo.svg`],
      ['GET', '/metrics'],
      ['PUT', `${BOARD}/api/queues/approval/${jobId}/promote`],
      ['PUT', `${BOARD}/api/queues/approval/${jobId}/clean`],
      ['PATCH', `${BOARD}/api/queues/approval/${jobId}/update-data`],
      ['POST', `${BOARD}/api/queues/steps/add`],
      ['GET', '/nowhere'],
    ];
    const wrong: Array<Record<string, string>> = [{}, { authorization: basic('alice', 'not-her-password') }, { authorization: basic('mallory', REVIEWERS.alice) }, { authorization: 'Bearer x' }];
    for (const [method, path] of routes) {
      for (const headers of wrong) {
        const res = await call(method, path, headers, method === 'GET' ? undefined : {});
        expect(res.status, `${method} ${path}`).toBe(401);
      }
    }
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', BOARD, alice)).status).toBe(200);
    expect((await call('GET', '/metrics', bob)).status).toBe(200);
    // Nothing was decided by any of it.
    expect((await snapshot(id('06-refund-after-closing-studio.eml'))).ledger).toBe('awaiting_approval');
  });

  it('shows every queue, and names a parked refund by trusted facts only', async () => {
    const res = await call('GET', `${BOARD}/api/queues?activeQueue=approval&status=delayed`, alice);
    const body = (await res.json()) as { queues: Array<{ name: string; jobs: Array<{ name: string; id: string }> }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['approval', 'dead-letter', 'ingest', 'notify', 'plan', 'steps']);
    const names = body.queues.find((q) => q.name === 'approval')?.jobs.map((j) => j.name) ?? [];
    expect(names).toContain('refund · acct_1006 · $49.00 · 2 effects');
    // The age is filled in when the dashboard asks (the stored job has only times).
    const job = body.queues.find((q) => q.name === 'approval')?.jobs[0] as { data?: { time?: { age?: string } } } | undefined;
    expect(job?.data?.time?.age).toMatch(/^\d+ min$/);
  });

  it('refuses update-data, add, duplicate, retry, clean-all, promote-all and delay on the approval queue: the parked plan is unchanged', async () => {
    const emailId = id('07-refund-duplicate-seats.eml');
    const jobId = await jobIdOf(emailId);
    const before = await snapshot(emailId);
    const forged = { ...(before.data as Record<string, unknown>), ids: { emailId: id('06-refund-after-closing-studio.eml') } };
    const attempts: Array<[string, string, unknown]> = [
      ['PATCH', `${BOARD}/api/queues/approval/${jobId}/update-data`, { jobData: forged }],
      ['POST', `${BOARD}/api/queues/approval/add`, { name: 'refund', data: forged, options: {} }],
      ['PUT', `${BOARD}/api/queues/approval/${jobId}/retry`, {}],
      ['PUT', `${BOARD}/api/queues/approval/retry/failed`, {}],
      ['PUT', `${BOARD}/api/queues/approval/clean/delayed`, {}],
      ['PUT', `${BOARD}/api/queues/approval/promote`, {}],
      ['PUT', `${BOARD}/api/queues/approval/empty`, {}],
      ['PATCH', `${BOARD}/api/queues/approval/${jobId}/delay`, { delay: 1 }],
      ['PUT', `${BOARD}/api/queues/approval/pause`, {}],
      ['PUT', `${BOARD}/api/queues/pause`, {}],
      // An encoded queue name is still the approval queue to Bull Board's router.
      ['PATCH', `${BOARD}/api/queues/appr%6Fval/${jobId}/update-data`, { jobData: forged }],
      // A step job with approvedBy would run past the gate: adding one is refused on every queue.
      ['POST', `${BOARD}/api/queues/steps/add`, { name: 'steps', data: { emailId, planId: 'pl_0000000000000000', stepIndex: 2, approvedBy: 'alice' }, options: {} }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(method, path, alice, body);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await snapshot(emailId)).toEqual(before);
    expect(before.state).toBe('delayed');
    expect(await app().queues.get('steps').getJobCounts('waiting', 'delayed', 'active')).toEqual({ waiting: 0, delayed: 0, active: 0 });
  });

  it("Bull Board's remove rejects with the signed-in reviewer; its promote approves, and two at once make one decision", async () => {
    const rejected = id('07-refund-duplicate-seats.eml');
    const res = await call('PUT', `${BOARD}/api/queues/approval/${await jobIdOf(rejected)}/clean`, bob);
    expect(res.status).toBe(204);
    expect(await app().ledger.get(rejected)).toMatchObject({ state: 'rejected', reason: 'rejected by bob: rejected in Bull Board' });

    const approved = id('08-remboursement-commande.eml');
    const jobId = await jobIdOf(approved);
    const both = await Promise.all([
      call('PUT', `${BOARD}/api/queues/approval/${jobId}/promote`, alice),
      call('PUT', `${BOARD}/api/queues/approval/${jobId}/promote`, bob),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([204, 409]);
    const rec = await waitFor('the approved plan to finish', async () => {
      const r = await app().ledger.get(approved);
      return r && RESTING_STATES.includes(r.state) && r.state !== 'awaiting_approval' ? r : undefined;
    });
    expect(rec.state).toBe('completed');
    const trail = await app().audit.read(approved);
    const approvals = trail.filter((e) => e.type === 'approved' && e.actor !== 'policy');
    expect(approvals).toHaveLength(1);
    expect(['alice', 'bob']).toContain(approvals[0]?.actor);
    expect(trail.filter((e) => e.type === 'step_started' && e.data.tool === 'issue_refund')).toHaveLength(1);
    await d.smtp.waitFor(1, 10_000);
    expect(d.smtp.messages).toHaveLength(1);
    expect(d.smtp.messages[0]?.envelope.to).toEqual([expect.stringContaining('@')]);
    // A decided plan's job is gone; promoting it again is a conflict, not a second run.
    expect(await app().queues.get('approval').getJob(jobId)).toBeUndefined();
    expect((await call('PUT', `${BOARD}/api/queues/approval/${jobId}/promote`, alice)).status).toBe(409);
  });
});
