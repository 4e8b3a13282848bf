import type { OpenAI } from 'openai';
import { simpleParser } from 'mailparser';
import { emailIdFor } from '../../kernel/ids.js';
import { createContentStore } from '../../store/content-store.js';
import { redisKeys } from '../../queues/keys.js';
import { createCapturingMailer } from '../capture.js';
import { collectWorld, normaliseIds, type RunEffects } from '../effects.js';
import { accountsFor, type EvalEnvironment } from '../environment.js';
import { otherCustomerMail } from '../run-mailroom.js';
import { runReactAgent } from './agent.js';
import { buildToolbox } from './toolbox.js';

export interface ReactRunInput {
  raw: Buffer;
  baseAddress: string;
  senderAddress: string;
  client: OpenAI;
  model: string;
  observe?: (text: string) => void;
}

/**
 * One email through the naive agent on a key prefix of its own: parse, look the sender's
 * account up by the From address, let the model drive the tools, and report what happened.
 * An email its parser cannot read gets nothing done (state `unparsed`).
 */
export async function runReactBaseline(env: EvalEnvironment, input: ReactRunInput): Promise<RunEffects> {
  const prefix = env.nextPrefix();
  const run = prefix.slice(1, -1);
  const hookUrl = `${env.hooks.url}/${run}`;
  const config = { ...env.config, prefix, webhooks: { tickets: `${hookUrl}/tickets`, escalations: `${hookUrl}/escalations`, refunds: `${hookUrl}/refunds` } };
  const keys = redisKeys(prefix);
  const mailer = createCapturingMailer();
  try {
    await createContentStore(env.redis, keys, config.contentTtlSeconds).putRaw(otherCustomerMail(env.secrets.mail, config.mailbox.address));
    let parsed;
    try {
      parsed = await simpleParser(input.raw);
    } catch {
      return { state: 'unparsed', executed: [], mail: [], tickets: [], escalations: [], refunds: [], accountChanges: [], deletions: [], folder: null, flags: [], labels: [], webhooks: [] };
    }
    const from = parsed.from?.value[0];
    const fromAddress = (from?.address ?? input.senderAddress).toLowerCase();
    const emailId = emailIdFor(config.mailbox.address, parsed.messageId ?? run);
    const account = accountsFor(env.accounts, input.baseAddress, input.senderAddress).byEmail(fromAddress);
    const text = parsed.text ?? '';
    const attachments = parsed.attachments.map((a) => `${a.filename ?? '(unnamed)'} (${a.contentType})`);
    const email = [
      `From: ${from?.name ? `${from.name} ` : ''}<${fromAddress}>`,
      `Subject: ${parsed.subject ?? ''}`,
      ...(attachments.length ? [`Attachments: ${attachments.join(', ')}`] : []),
      account ? `Customer account: ${account.id} (${account.tier})` : 'Customer account: none',
      '',
      text,
    ].join('\n');
    const tools = buildToolbox({
      config,
      redis: env.redis,
      keys,
      kb: env.kb,
      mailer,
      emailId,
      from: fromAddress,
      subject: parsed.subject ?? '',
      messageId: parsed.messageId ?? null,
      account,
      text,
    });
    const calls = await runReactAgent({
      client: input.client,
      model: input.model,
      company: config.mailbox.name,
      email,
      tools,
      ...(input.observe ? { observe: input.observe } : {}),
    });
    const executed = calls
      .filter((c) => c.ok)
      .map((c) => {
        const textArgs = tools.find((t) => t.name === c.tool)?.textArgs ?? [];
        return { tool: c.tool, args: Object.fromEntries(Object.entries(c.args).filter(([k]) => !textArgs.includes(k))) };
      });
    const world = await collectWorld({ redis: env.redis, keys }, emailId, mailer.sent, env.hooks.take(run));
    const state = executed.some((c) => c.tool === 'escalate') ? 'escalated' : 'completed';
    return normaliseIds({ state, executed, ...world });
  } finally {
    await env.dropPrefix(prefix);
  }
}
