/** Milliseconds per unit of the one duration syntax (config values, `--since`, the report page). */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** A duration as written: up to six digits and a unit, `90s`, `90m`, `48h`, `7d`, `2w`. */
export const DURATION_SYNTAX = /^(\d{1,6})([smhdw])$/;

/** `90s`, `90m`, `48h`, `7d`, `2w` → milliseconds (surrounding blanks ignored); null when it does not parse. */
export function parseDuration(text: string): number | null {
  const m = DURATION_SYNTAX.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null;
}
