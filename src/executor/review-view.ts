import type { AppContext } from '../services/services.js';
import type { EmailRef, EmailId, PlanId } from '../kernel/ids.js';
import type { TrustedContext, UntrustedContent } from '../model/trusted-context.js';
import type { StoredPlan } from '../model/stored-plan.js';
import type { ApprovalJob, ShownEffect } from '../queues/approval-job.js';
import type { AuditEvent } from '../audit/audit-trail.js';
import { describeEffect, effectAmounts, effectDigest, effectsDigest, isEffect, refundHistory } from './effects.js';
import type { LabelledOutput } from '../store/run-store.js';
import type { ReviewRecord } from './review-record.js';
import { ruleLabel } from '../planner/autonomy.js';
import { type StepAutonomy } from '../model/autonomy.js';

/** How much of the sender's text the review shows (the whole email is in the raw store). */
const MAX_EMAIL_CHARS = 6_000;
const MAX_LINES = 200;

/**
 * Characters that change how text around them is drawn (bidi overrides and isolates, zero-width
 * marks): a sender could use them to make the untrusted block look like something else. They are
 * shown as visible codes instead.
 */
const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;

/** Text as a reviewer reads it in a JSON view: visible characters, one array entry per line. */
export function asLines(text: string, maxChars = MAX_EMAIL_CHARS): string[] {
  const clipped = text.length > maxChars ? `${text.slice(0, maxChars)}\n… (${text.length - maxChars} more characters not shown)` : text;
  const lines = clipped
    .replace(INVISIBLE, (c) => `⟨U+${c.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0') ?? ''}⟩`)
    .replace(/\r\n?/g, '\n')
    .split('\n');
  return lines.length > MAX_LINES ? [...lines.slice(0, MAX_LINES), `… (${lines.length - MAX_LINES} more lines)`] : lines;
}

/** `key = value, …`: a step's resolved arguments on one line. */
export const argText = (args: Record<string, unknown>) =>
  Object.entries(args)
    .map(([k, v]) => `${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');

/** The effects as a reviewer reads them: one block each, messages in full between rules, with any note on a step (a refund's history). */
export function effectLines(effects: readonly ShownEffect[], notes: ReadonlyMap<string, string> = new Map()): string[] {
  if (!effects.length) return ['(none: nothing leaves Mailroom)'];
  const out: string[] = [];
  effects.forEach((e, i) => {
    if (i > 0) out.push('');
    out.push(`${i + 1} of ${effects.length} · ${e.summary.toUpperCase().slice(0, 1)}${e.summary.slice(1)}`);
    out.push(`↳ step ${e.step} · ${e.tool}${Object.keys(e.args).length ? ` · ${argText(e.args)}` : ''}`);
    if (e.pending) out.push(`↳ NOT SHOWN YET: ${e.pending}; it will wait for a human again`);
    const note = notes.get(e.step);
    if (note) out.push(`↳ ${note}`);
    if (e.message) {
      out.push(`↳ to: ${e.message.to}${e.message.subject ? ` · subject: ${e.message.subject}` : ''}`);
      out.push('┌──── the message, exactly as it will be sent ────');
      for (const line of asLines(e.message.text, 20_000)) out.push(`│ ${line}`);
      out.push('└──── end of message ────');
    }
  });
  return out;
}

function trustedFacts(context: TrustedContext): Record<string, string> {
  const s = context.sender;
  return {
    sender: s.verified ? `${s.address} (verified by ${s.method})` : `unverified (${s.reason})`,
    account: context.account ? context.account.id : 'none',
    tier: context.account ? context.account.tier : '-',
    category: `${context.category.name} (${context.category.source === 'classifier' ? 'chosen by the classifier from the email: an attacker can force it' : 'from a routing rule'})`,
    attachments: String(context.attachments.count),
    'automatic mail': context.auto.kind,
  };
}

/** `level review by rules[1] "bug replies"` or `level review (auto by the default; limit: …)`. */
export function autonomyText(d: StepAutonomy): string {
  const chose = d.configured === d.level ? ` by ${ruleLabel(d.rule)}` : ` (${d.configured} by ${ruleLabel(d.rule)}; ${d.limit?.why ?? 'a limit'})`;
  return `level ${d.level}${chose}`;
}

function stepLines(app: Pick<AppContext, 'registry'>, stored: StoredPlan, outputs: Record<string, LabelledOutput>, resumeAt: number): string[] {
  return stored.plan.steps.map((step, i) => {
    const tool = app.registry.get(step.tool);
    const risk = tool ? [tool.risk, tool.requiresApproval].filter(Boolean).join(', ') : 'unknown tool';
    const status = outputs[step.id] ? 'done' : i === resumeAt ? '⏸ waits for your decision' : i > resumeAt ? 'after approval' : 'not run';
    const level = stored.autonomy?.find((d) => d.stepId === step.id);
    return `${i + 1}. ${step.id} · ${step.tool} (${risk}) · ${status}${level ? ` · ${autonomyText(level)}` : ''}`;
  });
}

function auditLine(e: AuditEvent): string {
  const d = e.data;
  const bits = [d.stepId, d.tool, d.code, typeof d.reason === 'string' ? d.reason : undefined].filter((v): v is string => typeof v === 'string');
  return `${e.ts.slice(0, 19).replace('T', ' ')} ${e.type} · ${e.actor}${bits.length ? ` · ${bits.join(' · ')}` : ''}`;
}

/** `refund · acct_1006 · €49.00 · 2 effects`: closed-vocabulary facts and ids only, never sender text. */
export function reviewTitle(context: TrustedContext, effects: readonly ShownEffect[], app: Pick<AppContext, 'accounts'>): string {
  const amounts = effectAmounts(effects, app);
  return [context.category.name, context.account?.id ?? 'no account', ...amounts, `${effects.length} effect${effects.length === 1 ? '' : 's'}`].join(' · ');
}

export interface ReviewInputs {
  emailId: EmailId;
  planId: PlanId;
  seq: number;
  resumeAt: number;
  reasons: string[];
  stored: StoredPlan;
  trusted: TrustedContext;
  emailRef: EmailRef;
  outputs: Record<string, LabelledOutput>;
}

/**
 * What a reviewer is shown for a parked plan and what Mailroom records of it: every effect from
 * the gate on (resolved now, with the full text of each message), trusted facts, steps, audit, and
 * the email itself marked untrusted.
 */
export async function buildReview(
  app: Pick<AppContext, 'registry' | 'content' | 'config' | 'accounts' | 'audit' | 'clock' | 'redis' | 'keys'>,
  input: ReviewInputs,
): Promise<{ record: ReviewRecord; view: ApprovalJob }> {
  const { stored, trusted, outputs, resumeAt } = input;
  const effects: ShownEffect[] = [];
  for (const step of stored.plan.steps.slice(resumeAt)) {
    const tool = app.registry.get(step.tool);
    if (!tool || !isEffect(tool)) continue;
    effects.push(await describeEffect(app, step, tool, { trusted, emailRef: input.emailRef, outputs }));
  }
  const now = app.clock();
  const deadline = new Date(now.getTime() + app.config.approval.deadlineSeconds * 1000);
  const title = reviewTitle(trusted, effects, app);
  const record: ReviewRecord = {
    emailId: input.emailId,
    planId: input.planId,
    seq: input.seq,
    resumeAt,
    reasons: input.reasons,
    parkedAt: now.toISOString(),
    deadline: deadline.toISOString(),
    effects,
    effectDigests: Object.fromEntries(effects.filter((e) => e.pending === null).map((e) => [e.step, effectDigest(e)])),
    digest: effectsDigest(effects),
    registryVersion: stored.registryVersion,
    category: trusted.category.name,
    account: trusted.account?.id ?? null,
    title,
  };
  const email: UntrustedContent | null = await app.content.getContent(input.emailRef).catch(() => null);
  const trail = await app.audit.read(input.emailId);
  const view: ApprovalJob = {
    'waiting because': input.reasons,
    'effects if you approve': effectLines(effects, await refundHistory(app, effects)),
    'trusted facts': trustedFacts(trusted),
    steps: stepLines(app, stored, outputs, resumeAt),
    'audit trail': trail.map(auditLine).slice(-60),
    'email — UNTRUSTED, written by the sender; do not follow it': email
      ? [
          `From: ${asLines(`${email.fromDisplayName} <${email.fromAddress ?? 'no address'}>`, 300).join(' ')}`,
          `Subject: ${asLines(email.subject, 300).join(' ')}`,
          ...email.attachments.map((a) => `Attachment: ${asLines(`${a.filename} (${a.contentType}, ${a.size} bytes)`, 300).join(' ')}`),
          '┌──── the text as the sender wrote it ────',
          ...asLines(email.text).map((l) => `│ ${l}`),
          '└──── end of the sender’s text ────',
        ]
      : ['(the email content has expired)'],
    time: { parked: record.parkedAt, deadline: record.deadline },
    ids: { emailId: input.emailId, planId: input.planId, resumeAt, digest: record.digest },
  };
  return { record, view };
}

/** `3 h 12 min`: how long a plan has waited (shown live by the dashboard's formatter). */
export function formatAge(ms: number): string {
  const min = Math.max(0, Math.floor(ms / 60_000));
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
