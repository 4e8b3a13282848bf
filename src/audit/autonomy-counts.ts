import { z } from 'zod';
import { AutonomyLevel } from '../model/autonomy.js';
import { StepAutonomy } from '../model/autonomy.js';
import type { AuditEvent } from '../audit/audit-trail.js';

const Count = z.number().int().min(0);

/**
 * One line of the report's autonomy figure: for a tool and a category, the steps the policy gave
 * a level (`decided`, from each plan's `autonomy` audit event) and how many of them ran
 * (`step_finished` in a live run; a `review` or `suggest` step runs only once a person approved).
 */
export const AutonomyRow = z
  .object({ tool: z.string(), category: z.string(), level: AutonomyLevel, decided: Count, ran: Count })
  .strict();
export type AutonomyRow = z.infer<typeof AutonomyRow>;

const AutonomyEvent = z.object({ planId: z.string(), steps: z.array(StepAutonomy) });

/** Folds audit trails into the per-level counts, one email at a time (memory: one entry per tool, category and level). */
export class AutonomyCounter {
  private readonly rows = new Map<string, AutonomyRow>();

  add(category: string, events: readonly AuditEvent[]): void {
    const levels = new Map<string, { tool: string; level: AutonomyLevel }>();
    const ran = new Set<string>();
    for (const e of events) {
      if (e.type === 'autonomy') {
        const parsed = AutonomyEvent.safeParse(e.data);
        if (!parsed.success) continue;
        // A later event for the same step (a money step parked over its ceiling) replaces the earlier.
        for (const s of parsed.data.steps) levels.set(`${parsed.data.planId}/${s.stepId}`, { tool: s.tool, level: s.level });
      } else if (e.type === 'step_finished' && typeof e.data.planId === 'string' && typeof e.data.stepId === 'string') {
        ran.add(`${e.data.planId}/${e.data.stepId}`);
      }
    }
    for (const step of levels.values()) this.row(step.tool, category, step.level).decided += 1;
    for (const key of ran) {
      const step = levels.get(key);
      if (step) this.row(step.tool, category, step.level).ran += 1;
    }
  }

  private row(tool: string, category: string, level: AutonomyLevel): AutonomyRow {
    const key = `${tool}\u0000${category}\u0000${level}`;
    let row = this.rows.get(key);
    if (!row) this.rows.set(key, (row = { tool, category, level, decided: 0, ran: 0 }));
    return row;
  }

  /** Adds rows counted elsewhere (the history store's sums of archived emails). */
  merge(rows: readonly AutonomyRow[]): void {
    for (const r of rows) {
      const row = this.row(r.tool, r.category, r.level);
      row.decided += r.decided;
      row.ran += r.ran;
    }
  }

  /** Sorted by tool, category, then level from strictest to most permissive. */
  build(): AutonomyRow[] {
    const order = AutonomyLevel.options;
    return [...this.rows.values()].sort(
      (a, b) => a.tool.localeCompare(b.tool) || a.category.localeCompare(b.category) || order.indexOf(a.level) - order.indexOf(b.level),
    );
  }
}
