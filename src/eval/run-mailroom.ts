import { openSqliteHistoryStore } from '../history/sqlite-history-store.js';
import { createAuditTrail } from '../audit/audit-trail.js';
import { createTokenSources } from '../oauth/token-source.js';
import { createEmailLedger, RESTING_STATES } from '../audit/email-ledger.js';
import type { AppContext } from '../services/services.js';
import { startWorkers } from '../app/workers.js';
import { MailroomError } from '../kernel/errors.js';
import { createContentStore } from '../store/content-store.js';
import { submitEmail } from '../ingest/submit.js';
import type { LlmGateway } from '../llm/gateway.js';
import { createQueues } from '../queues/catalog.js';
import { redisKeys } from '../queues/keys.js';
import { createCapturingMailer } from './capture.js';
import { collectWorld, normaliseIds, type ExecutedTool, type RunEffects } from './effects.js';
import { accountsFor, type EvalEnvironment } from './environment.js';
import { OTHER_CUSTOMER } from './base-emails.js';

/** One email through one agent on fresh state. */
export interface RunInput {
  raw: Buffer;
  /** The base customer's address (their account) and the address the email came from. */
  baseAddress: string;
  senderAddress: string;
  /** The model gateway of this run (offline for baselines, the eval gateway for attacks). */
  llm: LlmGateway;
  timeoutMs: number;
}

/** A canonical raw message of another customer, planted in each run's store with a secret in it. */
export function otherCustomerMail(secret: string, mailbox: string): Buffer {
  return Buffer.from(
    [`From: ${OTHER_CUSTOMER.name} <${OTHER_CUSTOMER.address}>`, `To: ${mailbox}`, `Subject: ${OTHER_CUSTOMER.subject}`, '', OTHER_CUSTOMER.text(secret), ''].join('\r\n'),
  );
}

/**
 * Runs Mailroom's whole pipeline in this process (the same workers `mailroom process` starts) on a
 * key prefix of its own, until the email rests; returns what it did. Nothing is approved: a
 * parked plan stays parked.
 */
export async function runMailroom(env: EvalEnvironment, input: RunInput): Promise<RunEffects> {
  const prefix = env.nextPrefix();
  const run = prefix.slice(1, -1);
  const hookUrl = `${env.hooks.url}/${run}`;
  const config = {
    ...env.config,
    prefix,
    webhooks: { tickets: `${hookUrl}/tickets`, escalations: `${hookUrl}/escalations`, refunds: `${hookUrl}/refunds` },
  };
  const keys = redisKeys(prefix);
  const queues = createQueues(env.redis, prefix);
  const mailer = createCapturingMailer();
  const clock = () => new Date();
  // A run never archives; its history stays in Redis with the rest of its prefix.
  const history = openSqliteHistoryStore(':memory:');
  const app: AppContext = {
    config,
    logger: env.logger,
    redis: env.redis,
    keys,
    queues,
    ledger: createEmailLedger(env.redis, keys, clock),
    audit: createAuditTrail(env.redis, keys, clock),
    history,
    content: createContentStore(env.redis, keys, config.contentTtlSeconds),
    llm: input.llm,
    registry: env.registry,
    kb: env.kb,
    accounts: accountsFor(env.accounts, input.baseAddress, input.senderAddress),
    mailer,
    // The eval's mail stays in memory: no IMAP or SMTP login ever needs a token.
    tokens: createTokenSources({ logger: env.logger }),
    senderCheck: null,
    redisUrl: env.redisUrl,
    embeddedRedis: null,
    clock,
    close: () => queues.close().finally(() => history.close()),
  };
  const workers = startWorkers(app);
  try {
    await app.content.putRaw(otherCustomerMail(env.secrets.mail, config.mailbox.address));
    const { emailId } = await submitEmail(app, input.raw, { kind: 'file', path: `eval/${run}.eml` });
    const deadline = Date.now() + input.timeoutMs;
    let state = '';
    for (;;) {
      const record = await app.ledger.get(emailId);
      if (record && RESTING_STATES.includes(record.state)) {
        state = record.state;
        break;
      }
      if (Date.now() > deadline) throw new MailroomError('TIMEOUT', `the email did not come to rest within ${input.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const events = await app.audit.read(emailId);
    const finished = new Set(events.filter((e) => e.type === 'step_finished').map((e) => `${String(e.data.planId)}/${String(e.data.stepId)}`));
    const executed: ExecutedTool[] = events
      .filter((e) => e.type === 'step_started' && finished.has(`${String(e.data.planId)}/${String(e.data.stepId)}`))
      .map((e) => {
        const args = e.data.args;
        return { tool: String(e.data.tool), args: typeof args === 'object' && args !== null ? Object.fromEntries(Object.entries(args)) : {} };
      });
    const world = await collectWorld(app, emailId, mailer.sent, env.hooks.take(run));
    return normaliseIds({ state, executed, ...world });
  } finally {
    await workers.close(true);
    await queues.close();
    await env.dropPrefix(prefix);
  }
}
