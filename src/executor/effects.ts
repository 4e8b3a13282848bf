import type { AppContext } from '../services/services.js';
import { DraftRef, sha256Hex } from '../kernel/ids.js';
import type { Step } from '../model/plan.js';
import type { ToolDescriptor } from '../tools/tool.js';
import { replySubject } from '../tools/send-reply.js';
import { StoredDraft } from '../tools/draft-reply.js';
import type { ShownEffect } from '../queues/approval-job.js';
import { resolveArgs, type RefSources } from './resolve-args.js';

/**
 * An effect is what leaves Mailroom or cannot be taken back: anything outward (`external`), with
 * an audience, or declared to need approval. Labels, flags and folder moves are not effects.
 * Every step at or after a plan's gate that is an effect is bound to what the reviewer saw.
 */
export function isEffect(tool: Pick<ToolDescriptor, 'risk' | 'audience' | 'requiresApproval'>): boolean {
  return tool.risk === 'external' || tool.audience !== undefined || tool.requiresApproval !== undefined;
}

/** Stable JSON (sorted object keys) so that equal effects always hash alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The digest an approval binds for one effect: tool, step, resolved arguments, message. */
export function effectDigest(effect: ShownEffect): string {
  return sha256Hex(canonical({ step: effect.step, tool: effect.tool, args: effect.args, message: effect.message })).slice(0, 32);
}

/** The digest of everything shown at once (recorded with the decision). */
export function effectsDigest(effects: readonly ShownEffect[]): string {
  return sha256Hex(effects.map(effectDigest).join('\n')).slice(0, 32);
}

/** A stored draft as a reviewer needs it: its text, who wrote it, and what the output check found. */
async function readDraft(app: Pick<AppContext, 'content'>, ref: string): Promise<{ text: string; note: string | null }> {
  const raw = await app.content.getText(DraftRef.parse(ref));
  const draft = StoredDraft.safeParse(JSON.parse(raw));
  if (!draft.success) return { text: raw, note: null };
  const { text, origin, disallowed } = draft.data;
  const notes = [
    origin === 'suggested' ? 'a SUGGESTION written by a model that read the email: read every word' : 'composed from trusted material only',
    disallowed.length ? `names what its inputs do not: ${disallowed.join(', ')}` : '',
  ].filter(Boolean);
  return { text, note: notes.join('; ') };
}

const money = (amount: unknown, currency: string | undefined) =>
  typeof amount === 'number' ? `${amount.toFixed(2)}${currency ? ` ${currency}` : ''}` : String(amount);

/**
 * Describes one effect with its arguments resolved from the trusted context and the outputs so
 * far. An argument that depends on a step that has not run makes the effect `pending`.
 */
export async function describeEffect(
  app: Pick<AppContext, 'content' | 'config' | 'accounts'>,
  step: Step,
  tool: ToolDescriptor,
  sources: RefSources,
): Promise<ShownEffect> {
  let resolved: Record<string, unknown>;
  try {
    resolved = resolveArgs(step, tool, sources).args;
  } catch {
    const waitsFor = Object.values(step.args).find((v) => typeof v === 'string' && v.startsWith('{{steps.'));
    return {
      step: step.id,
      tool: tool.name,
      summary: `${tool.name}: shown once the steps before it have run`,
      args: {},
      message: null,
      pending: `its arguments depend on ${typeof waitsFor === 'string' ? waitsFor : 'a later step'}, which runs after approval`,
    };
  }
  const args: Record<string, unknown> = {};
  let text: string | null = null;
  let note: string | null = null;
  for (const [name, value] of Object.entries(resolved)) {
    if (!tool.untrustedInputs.includes(name)) {
      args[name] = value;
    } else if (typeof value === 'string' && value.startsWith('ur_draft_')) {
      ({ text, note } = await readDraft(app, value));
      args[name] = 'the drafted text below';
    } else if (typeof value === 'string' && value.startsWith('ur_content_')) {
      args[name] = 'the email as received (fenced as untrusted)';
    } else {
      args[name] = value === null ? null : 'untrusted text (not shown)';
    }
  }
  const sender = sources.trusted.sender.verified ? sources.trusted.sender.address : null;
  let to: string | null = null;
  let subject: string | null = null;
  let summary = `${tool.name} ${canonical(args)}`;
  switch (tool.name) {
    case 'issue_refund': {
      const account = typeof args.account === 'string' ? app.accounts.byId(args.account) : undefined;
      const order = account?.orders.find((o) => o.id === args.order);
      summary = `refund ${money(args.amount, order?.currency)} of order ${String(args.order)} to account ${String(args.account)}`;
      // issue_refund checks this again when it runs; the reviewer should know now that it will refuse.
      const cap = order ? Math.min(order.amount, app.config.refunds.maxAmount) : undefined;
      if (!order) summary += ' (NOT an order of this account: it will fail)';
      else if (typeof args.amount === 'number' && cap !== undefined && args.amount > cap) summary += ` (ABOVE the limit of ${money(cap, order.currency)}: it will fail)`;
      break;
    }
    case 'update_account': {
      const changes = [args.status !== null ? `status → ${String(args.status)}` : '', args.billingEmail !== null ? `billing contact → ${String(args.billingEmail)}` : '']
        .filter(Boolean)
        .join(', ');
      summary = `change account ${String(args.account)}: ${changes || 'nothing'}`;
      break;
    }
    case 'send_reply':
      to = sender;
      subject = replySubject(sources.trusted.category.name);
      summary = `reply to ${sender ?? 'an unverified sender'}${note ? ` (${note})` : ''}`;
      break;
    case 'send_email':
      to = typeof args.to === 'string' ? args.to : null;
      subject = typeof args.subject === 'string' ? args.subject : null;
      summary = `email to ${String(args.to)}${note ? ` (${note})` : ''}`;
      break;
    case 'forward_to_team': {
      const team = app.config.teams.find((t) => t.name === args.team);
      summary = `forward the email to team ${String(args.team)}${team ? ` <${team.address}>` : ''}`;
      break;
    }
    case 'delete_message':
      summary = `delete the email (${String(args.reason)})`;
      break;
    default:
      break;
  }
  return {
    step: step.id,
    tool: tool.name,
    summary,
    args,
    message: text !== null ? { to: to ?? '(none)', subject, text } : null,
    pending: null,
  };
}

/** The refund amounts among effects, for the job's name (`€49.00`). */
export function effectAmounts(effects: readonly ShownEffect[], app: Pick<AppContext, 'accounts'>): string[] {
  const out: string[] = [];
  for (const e of effects) {
    if (e.tool !== 'issue_refund' || typeof e.args.amount !== 'number') continue;
    const account = typeof e.args.account === 'string' ? app.accounts.byId(e.args.account) : undefined;
    const currency = account?.orders.find((o) => o.id === e.args.order)?.currency;
    out.push(formatMoney(e.args.amount, currency));
  }
  return out;
}

/**
 * What each refund's order has had refunded already, for the reviewer: one line per issue_refund
 * effect (keyed by step id), and whether approving would fail over what the order cost (the check
 * issue_refund itself makes when it runs). Trusted values only: ids, amounts, counts.
 */
export async function refundHistory(app: Pick<AppContext, 'redis' | 'keys' | 'accounts'>, effects: readonly ShownEffect[]): Promise<Map<string, string>> {
  const notes = new Map<string, string>();
  for (const e of effects) {
    const { account, order: orderId, amount } = e.args;
    if (e.tool !== 'issue_refund' || typeof account !== 'string' || typeof orderId !== 'string' || typeof amount !== 'number') continue;
    const order = app.accounts.byId(account)?.orders.find((o) => o.id === orderId);
    if (!order) continue;
    const refunded = Object.values(await app.redis.hgetall(app.keys.orderRefunds(account, orderId))).map(Number).filter(Number.isFinite);
    const before = refunded.reduce((sum, c) => sum + c, 0) / 100;
    const fmt = (n: number) => formatMoney(n, order.currency);
    if (refunded.length === 0) {
      notes.set(e.step, `order ${orderId} (${fmt(order.amount)}) has had nothing refunded before`);
      continue;
    }
    const history = `order ${orderId} (${fmt(order.amount)}) has had ${fmt(before)} refunded already in ${refunded.length} refund${refunded.length === 1 ? '' : 's'}`;
    notes.set(
      e.step,
      Math.round((before + amount) * 100) > Math.round(order.amount * 100)
        ? `WARNING: ${history}; with this ${fmt(amount)} it would pass what the order cost: approving will fail (REFUND_OVER_CAP) and nothing is refunded`
        : `${history}; with this ${fmt(amount)} it will have had ${fmt(before + amount)}`,
    );
  }
  return notes;
}

const SYMBOLS: Record<string, string> = { EUR: '€', USD: '$', GBP: '£', JPY: '¥' };

/** `€49.00`, `$12.50`, `49.00 CHF`. */
export function formatMoney(amount: number, currency: string | undefined): string {
  const symbol = currency ? SYMBOLS[currency] : undefined;
  return symbol ? `${symbol}${amount.toFixed(2)}` : money(amount, currency);
}
