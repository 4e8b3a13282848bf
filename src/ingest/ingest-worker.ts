import type { Job } from 'bullmq';
import { quarantine } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError, toMailroomError } from '../errors.js';
import { hasAttemptsLeft, parseJobData } from '../queues/catalog.js';
import { linkBounce } from './bounces.js';
import { hasDkimSignature } from './local-auth.js';
import { DEFAULT_PARSE_LIMITS } from './parse-email.js';
import { parseEmailIsolated } from './parse-isolated.js';
import { needsLocalCheck } from './sender-verification.js';
import { triage, verificationInput } from './triage.js';

/**
 * Ingest stage: parse under limits, split trusted from untrusted, triage, store the context, and
 * enqueue planning. Malformed mail is quarantined with a reason, never retried, never a crash.
 */
export async function processIngestJob(app: AppContext, job: Job): Promise<void> {
  const data = parseJobData('ingest', job.data);
  const { emailId } = data;
  const log = app.logger.child({ component: 'ingest', emailId, jobId: job.id });
  try {
    const raw = await app.content.getRaw(data.rawRef);
    const parsed = await parseEmailIsolated(raw, { ...DEFAULT_PARSE_LIMITS, ...app.config.limits, maxMessageBytes: app.config.maxMessageBytes });
    await app.audit.append(emailId, 'parsed', 'ingest', {
      sizeBytes: parsed.facts.sizeBytes,
      attachments: parsed.content.attachments.length,
      ...(parsed.facts.repairs ? { repairs: parsed.facts.repairs } : {}),
    });
    // Our own DKIM/DMARC check runs only where no trusted result exists and a signature could decide.
    const local =
      app.senderCheck && needsLocalCheck(verificationInput(app.config, parsed, data.source), hasDkimSignature(parsed.facts.headerLines))
        ? await app.senderCheck(raw)
        : undefined;
    const context = await triage(app, { emailId, parsed, source: data.source, receivedAt: app.clock(), localAuth: local });
    const contentRef = await app.content.putContent(parsed.content);
    await app.redis.set(app.keys.context(emailId), JSON.stringify({ context, contentRef, source: data.source }), 'EX', app.config.contentTtlSeconds);
    await app.audit.append(emailId, 'sender_verified', 'ingest', {
      verified: context.sender.verified,
      by: local ? 'local-check' : context.sender.verified && context.sender.method.startsWith('trusted') ? 'config' : 'authentication-results',
      ...(context.sender.verified ? { method: context.sender.method } : { reason: context.sender.reason }),
    });
    if (context.auto.kind !== 'none') await app.audit.append(emailId, 'robot', 'ingest', context.auto);
    // Only here is the raw DSN at hand: its embedded headers name the reply that bounced.
    if (context.auto.kind === 'bounce') await linkBounce({ ...app, logger: log }, emailId, raw);
    await app.audit.append(emailId, 'classified', 'ingest', { category: context.category.name, source: context.category.source });
    await app.audit.append(emailId, 'triaged', 'ingest', { account: context.account?.id ?? null, auto: context.auto.kind });
    await app.ledger.setState(emailId, 'triaged', {
      category: context.category.name,
      sender: context.sender.verified ? 'verified' : 'unverified',
      robot: context.auto.kind === 'none' ? '' : context.auto.kind,
    });
    await app.queues.add('plan', { emailId }, { jobId: emailId });
    log.debug({ category: context.category.name }, 'triaged');
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) throw e;
    if (!(err instanceof MailroomError)) log.error({ err }, 'ingest failed');
    await quarantine(app, emailId, 'ingest', e, data.source);
  }
}
