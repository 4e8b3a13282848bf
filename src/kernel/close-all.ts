import type { Logger } from './logger.js';

/** One part to release: a name for the log and the function that releases it. */
export type ClosePart = readonly [part: string, close: () => unknown];

/**
 * Releases every part in the order given, each one even when an earlier one failed, so that one
 * failing part cannot leave a later one running (an embedded `redis-server` must never outlive
 * us). Each failure is logged with its part's name. Afterwards a single failure is rethrown as it
 * was (a `MailroomError` keeps its code); several are thrown together as an `AggregateError`.
 */
export async function closeAll(parts: ReadonlyArray<ClosePart>, logger: Pick<Logger, 'warn'>): Promise<void> {
  const errors: unknown[] = [];
  for (const [part, close] of parts) {
    try {
      await close();
    } catch (err) {
      logger.warn({ err, part }, 'closing a part failed; closing the rest');
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} parts failed to close`);
}
