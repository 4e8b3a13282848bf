import type { Job } from 'bullmq';
import type { EmailState } from '../audit/email-ledger.js';
import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import type { EmailId } from '../kernel/ids.js';
import { DeadLetterJob, jobIdFor, type RerunJob } from '../queues/catalog.js';
import { loadPlan, loadTriage } from '../store/run-store.js';

/** The state an email returns to when the job of this queue runs again. */
const RETURNS_TO = { ingest: 'received', plan: 'triaged', steps: 'running' } as const satisfies Record<RerunJob['queue'], EmailState>;

function refuse(why: string): never {
  throw new MailroomError('NOT_REQUEUEABLE', why);
}

/**
 * Requeued: a quarantined email runs again from the job that failed, once its cause is dealt with
 * (a parse limit raised, a model back, a fix deployed). The job goes in again as the dead letter
 * kept it (same id, same data, fresh attempts), so everything the run already did stays done: a
 * step's effect claim answers a repeated step with its first result, and a half-finished send
 * still goes to a human. Refused, with the reason, when nothing is left to run: a message never
 * read, a job whose data did not parse, an email archived or no longer quarantined, its text gone.
 *
 * Order: the email leaves quarantine, the trail says who requeued it, the dead letter goes (so a
 * second failure files a new one), then the job is added; if adding fails the email goes back to
 * quarantine with its dead letter, as it was.
 */
export async function requeueDeadLetter(app: AppContext, letterJob: Job, by: string): Promise<{ emailId: EmailId; rerun: RerunJob }> {
  const letter = DeadLetterJob.parse(letterJob.data);
  const emailId = letter.emailId ?? refuse('it names no email (a job whose data did not parse): discard it');
  if (letter.stage === 'source') refuse('Mailroom never read this message (too large to fetch or open), so nothing is stored to run again: discard it and handle the message by hand');
  const rerun = letter.rerun ?? refuse(`its ${letter.stage} job's data did not parse (or it failed before Mailroom kept jobs to run again): discard it`);
  const rec = await app.ledger.get(emailId);
  if (!rec) refuse(`email ${emailId} was archived out of Redis: discard the dead letter and handle the email by hand`);
  if (rec.state !== 'quarantined') refuse(`email ${emailId} is ${rec.state} now, not quarantined`);
  await stillThere(app, rerun);

  // BullMQ ignores an add under an id it still keeps: the old job (completed or failed) goes first.
  const old = await app.queues.get(rerun.queue).getJob(rerun.id);
  const state = old ? await old.getState() : 'unknown';
  if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized') refuse(`its ${rerun.queue} job is ${state} already`);

  if (!(await app.ledger.reopen(emailId, RETURNS_TO[rerun.queue]))) refuse(`email ${emailId} is no longer quarantined`);
  await app.audit.append(emailId, 'dead_letter_requeued', by.slice(0, 200), { deadLetter: letterJob.id ?? null, queue: rerun.queue, code: letter.code });
  await letterJob.remove();
  try {
    await old?.remove();
    await addRerun(app, rerun);
  } catch (err) {
    await app.ledger.setState(emailId, 'quarantined', { reason: `${letter.code}: ${letter.reason.slice(0, 200)}` });
    await app.queues.add('deadLetter', letter, { jobId: jobIdFor('dl', emailId) });
    throw err;
  }
  return { emailId, rerun };
}

/** Typed per queue: the catalog's `add` takes the data of the queue it is given. */
async function addRerun(app: AppContext, rerun: RerunJob): Promise<void> {
  if (rerun.queue === 'ingest') await app.queues.add('ingest', rerun.data, { jobId: rerun.id });
  else if (rerun.queue === 'plan') await app.queues.add('plan', rerun.data, { jobId: rerun.id });
  else await app.queues.add('steps', rerun.data, { jobId: rerun.id });
}

/** What the job will read is still stored: the raw message, the triage record, the plan. */
async function stillThere(app: AppContext, rerun: RerunJob): Promise<void> {
  const what = { ingest: 'message', plan: 'triage record', steps: 'plan' }[rerun.queue];
  try {
    if (rerun.queue === 'ingest') await app.content.getRaw(rerun.data.rawRef);
    else if (rerun.queue === 'plan') await loadTriage(app, rerun.data.emailId);
    else await loadPlan(app, rerun.data.planId);
  } catch (err) {
    if (err instanceof MailroomError && err.code === 'CONTENT_EXPIRED') refuse(`its ${what} expired (contentTtl): nothing is left to run again`);
    throw err;
  }
}
