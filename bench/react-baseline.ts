/**
 * A minimal ReAct-style baseline agent for the cost benchmark. It does what an agent that reads
 * the email does: one conversation per email holding the tool list and the email's text, one
 * model call per action, each call resending the whole conversation, until the model answers with
 * a final reply. It speaks plain HTTP to any OpenAI-compatible endpoint (the bench's scripted
 * server) and counts calls, tokens and each call's wall time.
 *
 * Not the eval's agent (src/eval/react-baseline) on purpose: that one measures harm, so it runs
 * real tools against Redis, webhooks and a mailer in an eval environment, uses function calling,
 * and reports what it did, not what it cost; this one measures cost, with canned tool results and
 * JSON-object turns that the bench's server scripts per email (`baselineReply`).
 */
import { z } from 'zod';
import { parseEmail } from '../src/ingest/parse-email.js';
import type { ToolDescriptor } from '../src/tools/tool.js';

/** The headers that tell the scripted server which turn script this agent's calls follow. */
export const BASELINE_ROLE = 'baseline';

const Completion = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).optional(),
});

const Action = z.union([z.object({ tool: z.string(), args: z.record(z.string(), z.unknown()) }), z.object({ final: z.string() })]);

export interface BaselineUsage {
  calls: number;
  tokens: number;
  /** Wall time of each call, in order. */
  callMs: number[];
}

/**
 * The actions the baseline takes for an email: the tools of Mailroom's plan for it, less the
 * readers that exist only because Mailroom's planner cannot read the email — read tools that take
 * the email and return its facts (read_facts, extract_fields, classify_email) rather than a ref a
 * later tool needs (summarize_email's summary, suggest_reply's draft). The baseline agent has the
 * email in its conversation: scripting it to ask a tool for what it already read would bill it a
 * turn (a whole resent conversation) that no such agent takes.
 */
export function baselineScript(planTools: readonly string[], tools: readonly ToolDescriptor[]): string[] {
  const readsWhatItHolds = new Set(tools.filter((t) => t.risk === 'read' && t.untrustedInputs.includes('email') && !('ref' in t.output.shape)).map((t) => t.name));
  return planTools.filter((t) => !readsWhatItHolds.has(t));
}

/**
 * Runs the agent on one raw email. `script` names the actions the scripted server will have the
 * model take (`baselineScript`: the tools Mailroom's plan used for this email), so both do the same work.
 */
export async function runBaseline(opts: { baseUrl: string; tools: readonly ToolDescriptor[]; raw: Buffer; script: readonly string[]; maxTurns?: number }): Promise<BaselineUsage> {
  const usage: BaselineUsage = { calls: 0, tokens: 0, callMs: [] };
  // Mail that does not parse is not read by either agent (Mailroom quarantines it).
  const parsed = await parseEmail(opts.raw).catch(() => null);
  if (!parsed) return usage;
  const email = parsed.content;
  const system = [
    'You are a customer-support agent for Acme. Read the email and act on it with the tools below.',
    'Answer with one JSON object per turn: {"tool": NAME, "args": {...}} to call a tool, or {"final": REPLY} when done.',
    'Tools:',
    ...opts.tools.map((t) => `- ${t.name}: ${t.description}`),
  ].join('\n');
  const user = [`From: ${email.fromDisplayName} <${email.fromAddress ?? ''}>`, `Subject: ${email.subject}`, '', email.text].join('\n');
  const messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }> = [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
  for (let turn = 0; turn < (opts.maxTurns ?? 12); turn++) {
    const started = performance.now();
    const res = await fetch(`${opts.baseUrl.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'x-mailroom-role': BASELINE_ROLE, 'x-bench-script': opts.script.join(',') },
      body: JSON.stringify({ model: 'bench', messages, response_format: { type: 'json_object' } }),
    });
    const body = Completion.parse(await res.json());
    usage.callMs.push(performance.now() - started);
    usage.calls += 1;
    usage.tokens += (body.usage?.prompt_tokens ?? 0) + (body.usage?.completion_tokens ?? 0);
    const content = body.choices[0]?.message.content ?? '';
    messages.push({ role: 'assistant', content });
    const action = Action.safeParse(JSON.parse(content));
    if (!action.success || 'final' in action.data) break;
    // A tool result of the size a lookup or KB search returns.
    messages.push({ role: 'user', content: `Result of ${action.data.tool}: ${JSON.stringify({ ok: true, tool: action.data.tool, note: 'done; see the record for details' })}` });
  }
  return usage;
}

/**
 * The scripted server's side of the baseline: the n-th call of a conversation takes the n-th
 * scripted action, then a final reply of the length of a short support answer.
 */
export function baselineReply(messages: unknown, script: readonly string[]): string {
  const turns = Array.isArray(messages) ? messages.filter((m: unknown) => typeof m === 'object' && m !== null && 'role' in m && m.role === 'assistant').length : 0;
  const tool = script[turns];
  if (tool) return JSON.stringify({ tool, args: { email: 'the email above' } });
  return JSON.stringify({
    final:
      'Hello, thank you for writing to Acme support. We have looked into your request and taken care of it; you will find the details in your account. If anything is still unclear, just reply to this message. Best regards, Acme Support',
  });
}
