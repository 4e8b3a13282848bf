import { PlanId } from '../kernel/ids.js';
import { jobIdFor } from '../queues/catalog.js';

/** The approval job of one park of a plan: `pl_…__3`. */
export function approvalJobId(planId: PlanId, seq: number): string {
  return jobIdFor(planId, String(seq));
}

/** The plan and park an approval job id names, or null for an id Mailroom did not mint. */
export function parseApprovalJobId(jobId: string): { planId: PlanId; seq: number } | null {
  const m = /^(pl_[a-f0-9]{16})__(\d{1,6})$/.exec(jobId);
  const planId = m?.[1] ? PlanId.safeParse(m[1]) : null;
  return planId?.success ? { planId: planId.data, seq: Number(m?.[2]) } : null;
}

