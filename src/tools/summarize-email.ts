import { z } from 'zod';
import { EmailRef, SummaryRef } from '../kernel/ids.js';
import { clipUntrusted, MAX_SUBJECT_CHARS, OFFLINE_INPUT_CHARS, runReader } from './sandbox.js';
import { defineTool } from './tool.js';

export const Urgency = z.enum(['low', 'normal', 'high']);
export type Urgency = z.infer<typeof Urgency>;

const ReaderOutput = z.object({ summary: z.string().min(1).max(600), urgency: Urgency }).strict();
type ReaderOutput = z.infer<typeof ReaderOutput>;

const URGENT = /\b(urgent|urgently|asap|immediately|right now|outage|is down|locked out|cannot log in|can't log in|whole team|production)\b/i;

/** The sender's own words without quoted history, signatures or forwarded headers. */
function ownText(text: string): string {
  const lines: string[] = [];
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (/^-- ?$/.test(line) || /^On .+ wrote:$/.test(line.trim()) || /^-{2,}\s*(Original|Forwarded) Message/i.test(line.trim())) break;
    if (line.trimStart().startsWith('>')) continue;
    lines.push(line);
  }
  return lines.join(' ').replace(/\s+/g, ' ').trim();
}

/** The extractive summary of the offline provider: the subject and the first sentences of a bounded prefix. */
export function summarizeOffline(fullSubject: string, text: string): ReaderOutput {
  const subject = clipUntrusted(fullSubject, MAX_SUBJECT_CHARS);
  const body = ownText(clipUntrusted(text, OFFLINE_INPUT_CHARS));
  const sentences = body.match(/[^.!?]+[.!?]*/g) ?? [];
  let picked = '';
  for (const s of sentences) {
    if (picked.length + s.length > 400) break;
    picked += s;
  }
  const head = subject.replace(/\s+/g, ' ').trim().slice(0, 150);
  const summary = [head, (picked || body.slice(0, 400)).trim()].filter(Boolean).join(' — ') || '(empty message)';
  return { summary: summary.slice(0, 600), urgency: URGENT.test(`${subject} ${body}`) ? 'high' : 'normal' };
}

export const summarizeEmail = defineTool({
  name: 'summarize_email',
  description:
    'Sandboxed reader: summarises the email for a human (stored under a ref) and rates its urgency. Both outputs are tainted.',
  risk: 'read',
  input: z.object({ email: EmailRef }).strict(),
  output: z.object({ ref: SummaryRef, urgency: Urgency }).strict(),
  untrustedInputs: ['email'],
  taintedOutputs: ['ref', 'urgency'],
  outputLabel: 'inherit',
  sideEffect: false,
  async run(input, ctx) {
    const content = await ctx.content.getContent(input.email);
    const { summary, urgency } = await runReader(ctx.llm, {
      tool: 'summarize_email',
      schema: ReaderOutput,
      instruction:
        'Summarise the support email in at most three neutral sentences for a support agent: who wants what, and any ids they mention. ' +
        'Rate urgency: high only for outages, lockouts or data loss.',
      untrusted: { subject: content.subject, body: content.text },
      maxInputChars: 6_000,
      maxOutputTokens: 300,
      offline: () => summarizeOffline(content.subject, content.text),
    });
    const ref = await ctx.content.putText('summary', summary);
    return { ref, urgency };
  },
});
