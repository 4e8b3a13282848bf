import type { AuditEntry } from '../audit/audit-trail.js';
import type { AppContext } from '../services/services.js';
import type { Logger } from '../kernel/logger.js';
import type { JobData } from '../queues/catalog.js';
import { triaged } from './planning.js';
import { linkBounce } from '../ingest/bounces.js';
import { linkCase } from '../ingest/case-link.js';
import { DEFAULT_PARSE_LIMITS, MALFORMED_REPAIRS, type ParsedEmail } from '../ingest/parse-email.js';
import { parseEmailIsolated } from '../ingest/parse-isolated.js';
import { needsLocalCheck } from '../ingest/sender-verification.js';
import { triage, verificationInput } from '../ingest/triage.js';
import type { TrustedContext } from '../model/trusted-context.js';

/**
 * Ingest: parse under limits, split trusted from untrusted, triage, and hand the triage record on
 * (`triaged`, which stores it and enqueues planning). Malformed mail is quarantined with a reason
 * by the ingest queue's handler (./handlers.ts), never retried, never a crash.
 */
export async function ingest(app: AppContext, data: JobData<'ingest'>, log: Logger): Promise<void> {
  const { emailId } = data;
  const raw = await app.content.getRaw(data.rawRef);
  const parsed = await parseEmailIsolated(raw, {
    ...DEFAULT_PARSE_LIMITS,
    ...app.config.limits,
    maxMessageBytes: app.config.maxMessageBytes,
  });
  // The ingest's events go to the trail in one append, with triage's own (see `triaged`).
  const events: AuditEntry[] = [
    {
      type: 'parsed',
      actor: 'ingest',
      data: {
        sizeBytes: parsed.facts.sizeBytes,
        attachments: parsed.content.attachments.length,
        ...(parsed.facts.repairs ? { repairs: parsed.facts.repairs } : {}),
        ...(parsed.facts.repairs?.some((r) => MALFORMED_REPAIRS.has(r)) ? { malformed: true } : {}),
      },
    },
  ];
  try {
    await triageParsed(app, data, raw, parsed, events, log);
  } catch (err) {
    // What was seen before the failure stays on the trail, ahead of the quarantine that follows.
    await app.audit.appendAll(emailId, events);
    throw err;
  }
}

/** Triage of a parsed email; `events` is handed on to `triaged` (emptied once written). */
async function triageParsed(
  app: AppContext,
  data: JobData<'ingest'>,
  raw: Buffer,
  parsed: ParsedEmail,
  events: AuditEntry[],
  log: Logger,
): Promise<void> {
  const { emailId } = data;
  // Our own DKIM/DMARC check runs only where no trusted result exists and a signature could decide.
  const local =
    app.senderCheck && needsLocalCheck(verificationInput(app.config, parsed, data.source))
      ? await app.senderCheck(raw)
      : undefined;
  const triagedAs = await triage(app, {
    emailId,
    parsed,
    source: data.source,
    receivedAt: app.clock(),
    localAuth: local,
  });
  const { readings } = triagedAs;
  // The case comes from our own records; the email's threading headers are only lookup keys.
  const caseFacts = await linkCase(app, {
    trusted: triagedAs.trusted,
    content: parsed.content,
    headerProblem: triagedAs.threadProblem,
  });
  const trusted: TrustedContext = { ...triagedAs.trusted, case: caseFacts };
  const emailRef = await app.content.putContent(parsed.content, readings ?? undefined);
  events.push({
    type: 'sender_verified',
    actor: 'ingest',
    data: {
      verified: trusted.sender.verified,
      by: local
        ? 'local-check'
        : trusted.sender.verified && trusted.sender.method.startsWith('trusted')
          ? 'config'
          : 'authentication-results',
      ...(trusted.sender.verified ? { method: trusted.sender.method } : { reason: trusted.sender.reason }),
    },
  });
  if (trusted.auto.kind !== 'none') events.push({ type: 'robot', actor: 'ingest', data: trusted.auto });
  events.push({
    type: 'case',
    actor: 'ingest',
    data: {
      caseId: caseFacts.id,
      followUp: caseFacts.followUp,
      turns: caseFacts.turns,
      previous: caseFacts.previous,
      ...(caseFacts.notLinked ? { notLinked: caseFacts.notLinked } : {}),
    },
  });
  // Only here is the raw DSN at hand: its embedded headers name the reply that bounced (its own
  // events follow ours in the trail).
  if (trusted.auto.kind === 'bounce') {
    await app.audit.appendAll(emailId, events.splice(0));
    await linkBounce({ ...app, logger: log }, emailId, raw);
  }
  await triaged(app, emailId, { trusted, emailRef, source: data.source }, events.splice(0));
  log.debug({ category: trusted.category.name }, 'triaged');
}
