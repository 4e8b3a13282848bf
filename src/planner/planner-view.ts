import { z } from 'zod';
import type { Config } from '../config/config.js';
import { AttachmentKind, attachmentKinds } from '../model/attachment-kinds.js';
import { AutoKind } from '../model/trusted-context.js';
import { Account, CaseOutcome, CategorySource, Verification, type TrustedContext } from '../model/trusted-context.js';

/**
 * A name the operator's configuration declares (a category, an IMAP account or folder name, the
 * default mailbox): never a string from an email. Only {@link plannerView} makes one, after
 * checking the value against the configuration; anything the configuration does not declare
 * becomes `other` (`unknown` for a category).
 */
export const ConfigName = z.string().regex(/^[^\r\n\0]{1,200}$/).brand<'ConfigName'>();
export type ConfigName = z.infer<typeof ConfigName>;

/** Open tickets are shown as 0, 1, 2 or 3 (three or more): the planner needs no finer count. */
export const OPEN_TICKETS_CAP = 3;
/** Attachments are counted up to 10 (ten or more). */
export const ATTACHMENT_COUNT_CAP = 10;
/** A case's earlier emails are counted up to 3 (three or more). */
export const CASE_TURNS_CAP = 3;

/**
 * Everything the planner (LLM or playbook), the plan cache and replans see of an email. Every
 * leaf is a closed enum, a bounded number, a boolean or a name the configuration declares: no
 * address, domain, MIME type, id or time. The plan cache key is exactly this view, so two emails
 * share a plan only when the planner could not tell them apart. Values a tool needs at run time
 * (the sender's address, the account id) reach it through `{{context.…}}` placeholders that the
 * executor resolves from the `TrustedContext`.
 */
export const PlannerView = z
  .object({
    /** `default` (the configured support address), an IMAP account's name, `alias-<n>` (the n-th route's alias), or `other`. */
    mailbox: ConfigName,
    /** A folder the configuration watches or routes, `other`, or null (not from IMAP). */
    folder: ConfigName.nullable(),
    verification: Verification,
    account: z
      .object({
        tier: Account.shape.tier,
        openTickets: z.number().int().min(0).max(OPEN_TICKETS_CAP),
      })
      .strict()
      .nullable(),
    category: z.object({ name: ConfigName, source: CategorySource }).strict(),
    auto: AutoKind,
    attachments: z
      .object({
        count: z.number().int().min(0).max(ATTACHMENT_COUNT_CAP),
        kinds: z.array(AttachmentKind).max(AttachmentKind.options.length),
      })
      .strict(),
    /**
     * The email's case, from Mailroom's records: whether it is a follow-up (linked by a Message-ID
     * we minted, from the case's own customer), what became of the previous email, how many came
     * before it (0…3, 3 = three or more) and whether the case has a ticket. No case id, ticket id
     * or header value: a plan names the ticket as `{{context.case.ticketId}}`.
     */
    case: z
      .object({
        followUp: z.boolean(),
        previous: CaseOutcome,
        turns: z.number().int().min(0).max(CASE_TURNS_CAP),
        ticket: z.boolean(),
      })
      .strict(),
  })
  .strict();
export type PlannerView = z.infer<typeof PlannerView>;

/**
 * The leaves of `T` that are a free `string` (not a literal, enum member or branded name).
 * `never` when there is none.
 */
export type FreeStringLeaves<T, Path extends string = ''> = T extends string
  ? string extends T
    ? Path
    : never
  : T extends readonly (infer U)[]
    ? FreeStringLeaves<U, `${Path}[]`>
    : T extends object
      ? { [K in keyof T & string]-?: FreeStringLeaves<T[K], `${Path}.${K}`> }[keyof T & string]
      : never;

/** `true` only when `T` has no free string anywhere; otherwise assigning `true` to it does not compile. */
export type NoFreeString<T> = [FreeStringLeaves<T>] extends [never] ? true : { freeStringAt: FreeStringLeaves<T> };

/** Compile-time proof: adding a plain `z.string()` anywhere in PlannerView breaks the build here. */
export const PLANNER_VIEW_HAS_NO_FREE_STRING: NoFreeString<PlannerView> = true;

/** The configuration a view is checked against. */
export type PlannerVocabularyConfig = Pick<Config, 'mailbox' | 'categories' | 'routes'> & {
  imap: ReadonlyArray<Pick<Config['imap'][number], 'name' | 'address' | 'folders' | 'routes'>>;
};

/** The names the configuration declares, by which a view refers to mailboxes, folders and categories. */
export interface PlannerVocabulary {
  /** Lowercased address → mailbox name (`default` or an IMAP account's name). */
  mailboxes: ReadonlyMap<string, ConfigName>;
  folders: ReadonlyMap<string, ConfigName>;
  categories: ReadonlyMap<string, ConfigName>;
}

const name = (value: string): ConfigName => ConfigName.parse(value);

/** Builds the vocabulary once from the configuration; pure. */
export function plannerVocabulary(config: PlannerVocabularyConfig): PlannerVocabulary {
  const mailboxes = new Map<string, ConfigName>([[config.mailbox.address.toLowerCase(), name('default')]]);
  for (const account of config.imap) {
    const address = account.address.toLowerCase();
    if (!mailboxes.has(address)) mailboxes.set(address, name(account.name));
  }
  // An alias is named by its place in `routes` (`alias-1`, …), not by its address.
  config.routes.forEach((r, i) => {
    const address = r.alias?.toLowerCase();
    if (address !== undefined && !mailboxes.has(address)) mailboxes.set(address, name(`alias-${i + 1}`));
  });
  const folders = new Map<string, ConfigName>();
  const categories = new Map<string, ConfigName>([['unknown', name('unknown')]]);
  const addFolder = (f: string | undefined) => f !== undefined && folders.set(f, name(f));
  const addCategory = (c: string) => categories.set(c, name(c));
  config.categories.forEach(addCategory);
  for (const r of config.routes) {
    addFolder(r.folder);
    addCategory(r.category);
  }
  for (const account of config.imap) {
    account.folders.forEach(addFolder);
    for (const r of account.routes) {
      addFolder(r.folder);
      addCategory(r.category);
    }
  }
  return { mailboxes, folders, categories };
}

/**
 * The planner's view of a trusted context: a pure function that admits only what is known safe.
 * Strings are replaced by the configuration's own names for them (or `other`/`unknown`), MIME
 * types by their {@link AttachmentKind}, counts are capped, and everything else is dropped.
 */
export function plannerView(context: TrustedContext, vocabulary: PlannerVocabulary): PlannerView {
  const other = name('other');
  const { count, types } = context.attachments;
  const kinds = attachmentKinds(types);
  // Types that did not survive normalisation at ingest still count: they are attachments of no known kind.
  if (count > 0 && kinds.length === 0) kinds.push('other');
  return PlannerView.parse({
    mailbox: vocabulary.mailboxes.get(context.mailbox.toLowerCase()) ?? other,
    folder: context.folder === null ? null : (vocabulary.folders.get(context.folder) ?? other),
    verification: context.sender.verified ? context.sender.method : 'unverified',
    account: context.account ? { tier: context.account.tier, openTickets: Math.min(context.account.openTickets, OPEN_TICKETS_CAP) } : null,
    category: { name: vocabulary.categories.get(context.category.name) ?? name('unknown'), source: context.category.source },
    auto: context.auto.kind,
    attachments: { count: Math.min(count, ATTACHMENT_COUNT_CAP), kinds },
    case: context.case
      ? {
          followUp: context.case.followUp,
          previous: context.case.previous,
          turns: Math.min(context.case.turns, CASE_TURNS_CAP),
          ticket: context.case.ticketId !== null,
        }
      : { followUp: false, previous: 'none', turns: 0, ticket: false },
  });
}
