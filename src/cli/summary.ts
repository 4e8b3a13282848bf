import { z } from 'zod';
import type { EmailRecord } from '../audit/email-ledger.js';

/** The summary `mailroom process --json` prints; its keys are a contract for scripts and CI. */
export const ProcessSummary = z.object({
  processed: z.number().int(),
  completed: z.number().int(),
  awaiting_approval: z.number().int(),
  escalated: z.number().int(),
  quarantined: z.number().int(),
  rejected: z.number().int(),
  /** Emails handled in shadow mode (nothing acted on; see `would_send`). */
  shadowed: z.number().int(),
  /** Messages shadow mode would have sent (replies, forwards, notices): recorded, not sent. */
  would_send: z.number().int(),
  /** Messages this run handed to the SMTP server (or the outbox). */
  sent: z.number().int(),
  lost: z.number().int(),
  duplicates: z.number().int(),
  robots: z.record(z.string(), z.number().int()),
  llm: z.object({ provider: z.enum(['openai', 'offline']), calls: z.number().int(), byRole: z.record(z.string(), z.number().int()) }),
  tools: z.record(z.string(), z.number().int()),
  elapsed_ms: z.number().int(),
  /** Cases of this run with more than one email (a first email and its follow-ups), files in order. */
  cases: z.array(z.object({ caseId: z.string(), files: z.array(z.string()) })),
  emails: z.array(
    z.object({
      file: z.string(),
      emailId: z.string(),
      state: z.string(),
      category: z.string(),
      sender: z.string(),
      robot: z.string(),
      tools: z.array(z.string()),
      reason: z.string(),
    }),
  ),
});
export type ProcessSummary = z.infer<typeof ProcessSummary>;

export function summarize(
  entries: ReadonlyArray<{ file: string; emailId: string; duplicate: boolean; record: EmailRecord | null }>,
  extra: { llm: ProcessSummary['llm']; elapsedMs: number; wouldSend: number; sent: number; cases?: ProcessSummary['cases'] },
): ProcessSummary {
  const count = (state: string) => entries.filter((e) => e.record?.state === state).length;
  const resting = new Set(['completed', 'awaiting_approval', 'escalated', 'quarantined', 'rejected', 'shadowed']);
  const robots: Record<string, number> = {};
  const tools: Record<string, number> = {};
  for (const e of entries) {
    if (e.record?.robot) robots[e.record.robot] = (robots[e.record.robot] ?? 0) + 1;
    if (e.record && !e.duplicate && ['completed', 'escalated', 'awaiting_approval', 'shadowed'].includes(e.record.state)) {
      for (const t of e.record.tools.split(',').filter(Boolean)) tools[t] = (tools[t] ?? 0) + 1;
    }
  }
  return {
    processed: entries.length,
    completed: count('completed'),
    awaiting_approval: count('awaiting_approval'),
    escalated: count('escalated'),
    quarantined: count('quarantined'),
    rejected: count('rejected'),
    shadowed: count('shadowed'),
    would_send: extra.wouldSend,
    sent: extra.sent,
    lost: entries.filter((e) => !e.record || !resting.has(e.record.state)).length,
    duplicates: entries.filter((e) => e.duplicate).length,
    robots,
    llm: extra.llm,
    tools,
    elapsed_ms: extra.elapsedMs,
    cases: extra.cases ?? [],
    emails: entries.map((e) => ({
      file: e.file,
      emailId: e.emailId,
      state: e.record?.state ?? 'lost',
      category: e.record?.category ?? '',
      sender: e.record?.sender ?? '',
      robot: e.record?.robot ?? '',
      tools: (e.record?.tools ?? '').split(',').filter(Boolean),
      reason: e.record?.reason ?? 'no record',
    })),
  };
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function shortName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.length > 40 ? `${base.slice(0, 39)}…` : base;
}

/** A plain-text table that fits a terminal: one row per email, then the totals. */
export function formatTable(summary: ProcessSummary): string {
  const rows = summary.emails.map((e) => [
    shortName(e.file),
    e.category || '-',
    e.robot ? `robot:${e.robot}` : e.sender || '-',
    e.state,
    clip(e.tools.join(' → ') || '-', 64),
    clip(e.reason, 48),
  ]);
  const header = ['EMAIL', 'CATEGORY', 'SENDER', 'OUTCOME', 'ACTIONS', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ''];
  out.push(
    `processed ${summary.processed}: completed ${summary.completed}, awaiting approval ${summary.awaiting_approval}, ` +
      `escalated ${summary.escalated}, quarantined ${summary.quarantined}, rejected ${summary.rejected}, ` +
      (summary.shadowed ? `shadowed ${summary.shadowed}, ` : '') +
      `lost ${summary.lost}` +
      (summary.duplicates ? `, duplicates ${summary.duplicates}` : ''),
  );
  out.push(summary.shadowed ? `messages: would send ${summary.would_send} (shadow mode: none sent), sent ${summary.sent}` : `messages sent: ${summary.sent}`);
  const robots = Object.entries(summary.robots).map(([k, v]) => `${k} ${v}`).join(', ');
  if (robots) out.push(`robots (no reply, no model call): ${robots}`);
  for (const c of summary.cases) out.push(`case ${c.caseId} (${c.files.length} emails): ${c.files.map(shortName).join(' → ')}`);
  out.push(`provider: ${summary.llm.provider === 'offline' ? 'offline (playbook planner, deterministic readers)' : 'openai-compatible'}; LLM calls ${summary.llm.calls}; ${(summary.elapsed_ms / 1000).toFixed(1)} s`);
  return out.join('\n');
}
