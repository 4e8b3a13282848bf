// What a catch-up round lists and in what rounds it fetches it: the UIDs above the checkpoint with
// SEARCH (sizes only of the large ones), and the split of that listing into rounds bounded by
// count and bytes. No fetching of sources and no Redis here: rounds do that.
import type { ImapFlow, SearchObject } from 'imapflow';
import { MailroomError } from '../kernel/errors.js';
import { uidSet } from '../mail/imap-client.js';
import type { ImapAccount } from '../config/imap-config.js';

/** Most messages fetched, submitted and marked per round; the checkpoint advances after each. */
export const BATCH = 100;
/**
 * Most bytes of message sources (by their RFC822.SIZE) in memory at once: a round holds its
 * sources until they are stored, so 100 messages of 25 MiB must not come at once. The next round
 * is fetched while one is being stored only when the two fit in this budget together.
 */
export const DEFAULT_FETCH_BUDGET_BYTES = 32 * 1024 * 1024;

/**
 * Splits messages (in UID order) into consecutive fetch rounds of at most `maxCount` messages and
 * `maxBytes` of source. A message larger than the budget goes alone; one over `skipOver` (never
 * downloaded, quarantined from its size) costs nothing.
 */
export function planFetchBatches<T extends { size?: number }>(messages: readonly T[], opts: { maxCount: number; maxBytes: number; skipOver: number }): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.size ?? 0;
    const cost = size > opts.skipOver ? 0 : size;
    if (batch.length > 0 && (batch.length >= opts.maxCount || bytes + cost > opts.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += cost;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** A message above the checkpoint, as the listing found it. */
export interface Listed {
  uid: number;
  /** RFC822.SIZE, or for a message the listing found small, the bound it is known to be under. */
  size: number;
  /** It carries the handled flag already (taken in before; only the checkpoint did not move). */
  handled: boolean;
}

/**
 * Lists the folder above `lastUid` with SEARCH, whose answer is one line however many messages
 * there are: every UID, those already flagged handled, and those larger than `smallBound`. Only
 * the large ones have their sizes fetched; each of the others counts as `smallBound` in a round's
 * byte budget, an upper bound, so the budget holds without a per-message FETCH of every size.
 */
export async function listFolder(client: ImapFlow, account: ImapAccount, folder: string, lastUid: number, smallBound: number): Promise<Listed[]> {
  const range = `${lastUid + 1}:*`;
  const search = async (query: SearchObject): Promise<number[]> => {
    const found = await client.search({ uid: range, ...query }, { uid: true });
    if (!Array.isArray(found)) throw new MailroomError('IMAP_COMMAND_FAILED', `SEARCH in ${folder} failed`);
    // `N:*` always names the highest message, even below N: filter.
    return found.filter((uid) => uid > lastUid);
  };
  const flag = 'flag' in account.markHandled ? account.markHandled.flag : null;
  const all = await search({});
  if (all.length === 0) return [];
  const handled = new Set(flag ? await search({ keyword: flag }) : []);
  const large = await search({ larger: smallBound });
  const sizes = new Map<number, number>();
  if (large.length) {
    for (const m of await client.fetchAll(uidSet(large), { uid: true, size: true }, { uid: true })) sizes.set(m.uid, m.size ?? 0);
  }
  return [...new Set(all)].sort((a, b) => a - b).map((uid) => ({ uid, size: sizes.get(uid) ?? smallBound, handled: handled.has(uid) }));
}
