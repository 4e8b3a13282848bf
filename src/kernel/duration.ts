/** `7d`, `24h`, `90m`, `2w` → milliseconds; null when it does not parse. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([mhdw])$/.exec(text.trim());
  const unit =
    m?.[2] === 'm'
      ? 60_000
      : m?.[2] === 'h'
        ? 3_600_000
        : m?.[2] === 'd'
          ? 86_400_000
          : m?.[2] === 'w'
            ? 604_800_000
            : null;
  return m && unit !== null ? Number(m[1]) * unit : null;
}
