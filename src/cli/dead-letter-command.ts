import type { Job } from 'bullmq';
import type { EmailRecord } from '../audit/email-ledger.js';
import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { type AppContext } from '../services/services.js';
import { startWorkers } from '../app/workers.js';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import { DeadLetterJob } from '../queues/catalog.js';
import { requeueDeadLetter } from '../run/requeue.js';
import { awaitRest, requireData } from './process-command.js';

/** One dead letter as `mailroom dead-letters` shows it: the job's id, when, and what Mailroom recorded. */
export interface DeadLetter extends DeadLetterJob {
  id: string;
  at: string;
}

function toDeadLetter(job: Job): DeadLetter | null {
  const data = DeadLetterJob.safeParse(job.data);
  return data.success && job.id ? { id: job.id, at: new Date(job.timestamp).toISOString(), ...data.data } : null;
}

const STATES = ['waiting', 'completed', 'failed', 'delayed'] as const;

/** `mailroom dead-letters`: the newest first, at most `limit`. */
export async function listDeadLetters(config: Config, logger: Logger, limit: number): Promise<DeadLetter[]> {
  requireData(config);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const jobs = await app.queues.get('deadLetter').getJobs([...STATES], 0, limit - 1, false);
    return jobs.flatMap((j) => toDeadLetter(j) ?? []).sort((a, b) => b.at.localeCompare(a.at));
  } finally {
    await app.close();
  }
}

/**
 * `mailroom dead-letters show <id>` and `discard <id> --by NAME`: one dead letter; discarding
 * removes it from the queue and, when it names an email, records who did so in that email's trail.
 */
export async function deadLetter(config: Config, logger: Logger, id: string, discard: { by: string } | null): Promise<DeadLetter> {
  requireData(config);
  if (discard && !discard.by.trim()) throw new MailroomError('CONFIG_INVALID', '--by needs the name of who discards it');
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const { job, letter } = await findDeadLetter(app, id);
    if (discard) {
      await job.remove();
      if (letter.emailId) await app.audit.append(letter.emailId, 'dead_letter_discarded', discard.by.slice(0, 200), { deadLetter: letter.id, code: letter.code });
    }
    return letter;
  } finally {
    await app.close();
  }
}

async function findDeadLetter(app: AppContext, id: string): Promise<{ job: Job; letter: DeadLetter }> {
  const job = await app.queues.get('deadLetter').getJob(id);
  const letter = job ? toDeadLetter(job) : null;
  if (!job || !letter) throw new MailroomError('INPUT_NOT_FOUND', `no dead letter "${id.slice(0, 80)}" (mailroom dead-letters lists them)`);
  return { job, letter };
}

/**
 * `mailroom dead-letters requeue <id> --by NAME`: runs the email again from the stage that failed
 * (src/run/requeue.ts), in this process as `mailroom process` does (a running daemon's workers
 * help), until it rests or `timeoutMs` passes; answers the email's record then.
 */
export async function requeueLetter(config: Config, logger: Logger, id: string, by: string, timeoutMs: number): Promise<{ letter: DeadLetter; record: EmailRecord | null }> {
  requireData(config);
  if (!by.trim()) throw new MailroomError('CONFIG_INVALID', '--by needs the name of who requeues it');
  const app = await createContext(config, logger, { attachToRunning: true });
  const workers = startWorkers(app);
  try {
    const { job, letter } = await findDeadLetter(app, id);
    const { emailId } = await requeueDeadLetter(app, job, by);
    const [record] = await awaitRest(app, [emailId], Date.now() + timeoutMs);
    return { letter, record: record ?? null };
  } finally {
    await workers.close();
    await app.close();
  }
}

/** A dead letter as lines a person reads. */
export function formatDeadLetter(d: DeadLetter): string {
  const source = d.source ? (d.source.kind === 'file' ? `file ${d.source.path}` : `imap ${d.source.account}/${d.source.folder} uid ${d.source.uid}`) : '-';
  return [`${d.id}  ${d.at.slice(0, 19).replace('T', ' ')}  ${d.stage}  ${d.code}`, `    email:  ${d.emailId ?? '-'}`, `    source: ${source}`, `    reason: ${d.reason}`].join('\n');
}
