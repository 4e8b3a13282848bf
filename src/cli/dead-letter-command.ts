import type { Job } from 'bullmq';
import type { Config } from '../config.js';
import { createContext } from '../context.js';
import { MailroomError } from '../errors.js';
import type { Logger } from '../logger.js';
import { DeadLetterJob } from '../queues/catalog.js';
import { requireData } from './process-command.js';

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
    const job = await app.queues.get('deadLetter').getJob(id);
    const letter = job ? toDeadLetter(job) : null;
    if (!job || !letter) throw new MailroomError('INPUT_NOT_FOUND', `no dead letter "${id.slice(0, 80)}" (mailroom dead-letters lists them)`);
    if (discard) {
      await job.remove();
      if (letter.emailId) await app.audit.append(letter.emailId, 'dead_letter_discarded', discard.by.slice(0, 200), { deadLetter: letter.id, code: letter.code });
    }
    return letter;
  } finally {
    await app.close();
  }
}

/** A dead letter as lines a person reads. */
export function formatDeadLetter(d: DeadLetter): string {
  const source = d.source ? (d.source.kind === 'file' ? `file ${d.source.path}` : `imap ${d.source.account}/${d.source.folder} uid ${d.source.uid}`) : '-';
  return [`${d.id}  ${d.at.slice(0, 19).replace('T', ' ')}  ${d.stage}  ${d.code}`, `    email:  ${d.emailId ?? '-'}`, `    source: ${source}`, `    reason: ${d.reason}`].join('\n');
}
