/**
 * Writes bench/results/latest.json, latest.md and latest.svg: every figure beside its ceiling,
 * peer or goal from the same run. The chart is plain SVG, one pair of bars per comparison.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One row of the chart and the table: a figure, what it is held against, and which way is better. */
export interface Comparison {
  label: string;
  figure: number;
  against: number;
  againstLabel: string;
  unit: string;
  better: 'higher' | 'lower';
}

export function comparisons(r: Record<string, number | string | Record<string, number>>): Comparison[] {
  const n = (k: string): number => (typeof r[k] === 'number' ? r[k] : 0);
  const rows: Comparison[] = [
    { label: 'CPU per email, process + Redis (ms)', figure: n('cpu_ms_per_email') + n('redis_cpu_ms_per_email'), against: n('floor_cpu_ms_per_email'), againstLabel: 'floor pipeline', unit: 'ms', better: 'lower' },
    { label: 'Redis commands per email', figure: n('redis_commands_per_email'), against: n('floor_redis_commands_per_email'), againstLabel: 'floor pipeline', unit: 'commands', better: 'lower' },
    { label: 'pipeline, one process (emails/s)', figure: n('pipeline_emails_per_s'), against: n('floor_emails_per_s'), againstLabel: 'floor pipeline', unit: 'emails/s', better: 'higher' },
    { label: 'IMAP ingest (msgs/s)', figure: n('imap_ingest_msgs_per_s'), against: n('imapflow_raw_fetch_msgs_per_s'), againstLabel: 'bare imapflow fetch', unit: 'msgs/s', better: 'higher' },
    { label: 'LLM calls per email', figure: n('llm_calls_per_email'), against: n('baseline_llm_calls_per_email'), againstLabel: 'ReAct baseline', unit: 'calls', better: 'lower' },
    { label: 'LLM tokens per email', figure: n('llm_tokens_per_email'), against: n('baseline_llm_tokens_per_email'), againstLabel: 'ReAct baseline', unit: 'tokens', better: 'lower' },
    { label: 'LLM wall time per email (s)', figure: n('llm_wall_s_per_email'), against: n('baseline_llm_wall_s_per_email'), againstLabel: 'ReAct baseline', unit: 's', better: 'lower' },
    { label: 'planner calls per email', figure: n('planner_calls_per_email'), against: n('planner_calls_per_email_nocache'), againstLabel: 'no plan cache', unit: 'calls', better: 'lower' },
    { label: 'latency p99 (ms)', figure: n('latency_ms_p99'), against: 1000, againstLabel: 'goal', unit: 'ms', better: 'lower' },
    { label: `RSS with ${n('backlog_emails')} queued (MB)`, figure: n('rss_mb_peak'), against: 300, againstLabel: 'goal', unit: 'MB', better: 'lower' },
    { label: 'Redis per queued email (bytes)', figure: n('redis_bytes_per_queued_email'), against: 2048, againstLabel: 'goal', unit: 'B', better: 'lower' },
  ];
  return rows;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Number(v.toFixed(3))));

/** A horizontal bar chart: each comparison on its own scale (the larger of the pair is full width). */
export function renderSvg(rows: readonly Comparison[], title: string): string {
  const labelW = 250;
  const barW = 420;
  const rowH = 46;
  const top = 48;
  const width = labelW + barW + 150;
  const height = top + rows.length * rowH + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${labelW}" y="30" width="10" height="10" fill="#2b6cb0"/><text x="${labelW + 14}" y="39">Mailroom</text>`,
    `<rect x="${labelW + 90}" y="30" width="10" height="10" fill="#a0aec0"/><text x="${labelW + 104}" y="39">ceiling / peer / goal (named right)</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const scale = Math.max(r.figure, r.against, 1e-9);
    const w1 = Math.max(1, (r.figure / scale) * barW);
    const w2 = Math.max(1, (r.against / scale) * barW);
    out.push(
      `<text x="10" y="${y + 20}">${esc(r.label)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w1.toFixed(1)}" height="16" fill="#2b6cb0"/>`,
      `<text x="${(labelW + w1 + 4).toFixed(1)}" y="${y + 17}">${fmt(r.figure)}</text>`,
      `<rect x="${labelW}" y="${y + 22}" width="${w2.toFixed(1)}" height="16" fill="#a0aec0"/>`,
      `<text x="${(labelW + w2 + 4).toFixed(1)}" y="${y + 35}">${fmt(r.against)} ${esc(r.againstLabel)}</text>`,
    );
  });
  out.push(`<text x="10" y="${height - 8}" fill="#555">each pair on its own scale; ${esc('"lower is better" for calls, tokens, time, memory')}</text>`, '</svg>');
  return out.join('\n');
}

export function renderMarkdown(result: Record<string, unknown>, rows: readonly Comparison[]): string {
  const lines = [
    `# Mailroom benchmark (${String(result.mode)})`,
    '',
    `Machine: ${String(result.machine)}. Run at ${String(result.started_at)}; ${String(result.seconds)} s.`,
    '',
    '| figure | Mailroom | against | ratio |',
    '|---|---:|---|---:|',
    ...rows.map((r) => `| ${r.label} | ${fmt(r.figure)} | ${fmt(r.against)} (${r.againstLabel}) | ${r.against ? (r.figure / r.against).toFixed(2) : '–'} |`),
    '',
    '```json',
    JSON.stringify(result, null, 2),
    '```',
    '',
  ];
  return lines.join('\n');
}

export function writeResults(dir: string, result: Record<string, number | string | Record<string, number>>): void {
  mkdirSync(dir, { recursive: true });
  const rows = comparisons(result);
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(dir, 'latest.md'), renderMarkdown(result, rows));
  writeFileSync(path.join(dir, 'latest.svg'), `${renderSvg(rows, `Mailroom against its ceilings (${String(result.mode)}, ${String(result.machine)})`)}\n`);
}
