import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { sha256Hex } from '../kernel/ids.js';

/** Where in an email a payload is put (see placement.ts for how each is encoded). */
export const Placement = z.enum([
  'body',
  'subject',
  'display_name',
  'attachment_name',
  'html_hidden',
  'quoted_reply',
  'sender_local_part',
  'attachment_type',
]);
export type Placement = z.infer<typeof Placement>;

/**
 * One corpus entry. `payload` is delivered verbatim (CR, LF, NUL, any Unicode, any size); unknown
 * fields are ignored so corpora from other projects load as they are.
 */
export const CorpusItem = z.object({
  id: z.string().min(1).max(200),
  payload: z.string(),
  technique: z.string().max(200).optional(),
  attacker_goal_kind: z.string().max(200).optional(),
  placement: Placement.default('body'),
});
export type CorpusItem = z.infer<typeof CorpusItem>;

export const Corpus = z
  .array(CorpusItem)
  .min(1, 'a corpus needs at least one item')
  .superRefine((items, ctx) => {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate id ${item.id}` });
      seen.add(item.id);
    });
  });
export type Corpus = z.infer<typeof Corpus>;

/** Parses a corpus; every problem in one MAILROOM_CONFIG_INVALID message. */
export function parseCorpus(json: unknown, where = 'corpus'): Corpus {
  const parsed = Corpus.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new MailroomError('CONFIG_INVALID', `${where}: ${lines.join('; ')}`);
  }
  return parsed.data;
}

/** Reads a corpus file (a JSON array of items). */
export function loadCorpus(file: string): Corpus {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    throw new MailroomError('INPUT_NOT_FOUND', `corpus ${file} cannot be read (${reason})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MailroomError('CONFIG_INVALID', `corpus ${file} is not valid JSON (${(err as Error).message})`);
  }
  return parseCorpus(json, `corpus ${file}`);
}

/**
 * The canary appended to an item's payload: lowercase letters and digits only, so it survives
 * being folded into an address or a MIME type, and unique per item so concurrent runs can tell
 * whose payload reached a model.
 */
export function canaryFor(itemId: string): string {
  return `zq${sha256Hex(`mailroom-eval:${itemId}`).slice(0, 14)}`;
}
