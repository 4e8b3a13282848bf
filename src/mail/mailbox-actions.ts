import type { ImapFlow } from 'imapflow';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import type { EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import type { TokenSources } from '../oauth/token-source.js';
import { toImapError, withImapSession } from './imap-client.js';
import type { ImapAccount } from '../config/imap-config.js';
import type { SourceInfo } from '../model/trusted-context.js';

/** System flags a plan may set or clear; `\Deleted` is deliberately absent (deletion is a human's call). */
export const MessageFlag = z.enum(['seen', 'flagged', 'answered']);
export type MessageFlag = z.infer<typeof MessageFlag>;
const SYSTEM_FLAG: Record<MessageFlag, string> = { seen: '\\Seen', flagged: '\\Flagged', answered: '\\Answered' };

/**
 * What the mailbox tools may do to the email they act on. The email is fixed when the actions are
 * built (from its trusted source); no method takes a message id, so a plan cannot aim elsewhere.
 */
export interface MailboxActions {
  readonly kind: 'recorded' | 'imap';
  addLabel(label: string): Promise<void>;
  moveTo(folder: string): Promise<{ folder: string }>;
  setFlags(change: { add: readonly MessageFlag[]; remove: readonly MessageFlag[] }): Promise<void>;
}

/** Where an IMAP email is now; written when Mailroom moves it (the UID changes with the folder). */
export const ImapLocation = z.object({
  account: z.string(),
  folder: z.string(),
  uid: z.number().int().positive().nullable(),
  uidValidity: z.string(),
});
export type ImapLocation = z.infer<typeof ImapLocation>;

type Deps = { redis: Redis; keys: RedisKeys; config: Pick<Config, 'imap' | 'contentTtlSeconds'>; logger: Logger; tokens: TokenSources };

export async function recordLocation(deps: Pick<Deps, 'redis' | 'keys' | 'config'>, emailId: EmailId, loc: ImapLocation): Promise<void> {
  await deps.redis.set(deps.keys.imapLocation(emailId), JSON.stringify(ImapLocation.parse(loc)), 'EX', deps.config.contentTtlSeconds);
}

async function currentLocation(deps: Deps, emailId: EmailId, source: Extract<SourceInfo, { kind: 'imap' }>): Promise<ImapLocation> {
  const raw = await deps.redis.get(deps.keys.imapLocation(emailId));
  const moved = raw ? ImapLocation.safeParse(JSON.parse(raw)) : null;
  if (moved?.success) return moved.data;
  return { account: source.account, folder: source.folder, uid: source.uid, uidValidity: source.uidValidity };
}

/** IMAP keywords are atoms: a label's spaces become `_` (Gmail gets the label itself, via X-GM-LABELS). */
/**
 * Plans name the well-known folders the way most servers do (`Junk`, `Archive`, `Sent`);
 * Gmail calls its junk folder `[Gmail]/Spam`, Microsoft 365 `Junk Email`. The server says which
 * of its folders has that use (RFC 6154 special-use); other names are taken as they are.
 */
const SPECIAL_USE: Readonly<Record<string, string>> = { junk: '\\Junk', spam: '\\Junk', archive: '\\Archive', sent: '\\Sent', drafts: '\\Drafts' };

async function serverFolder(client: ImapFlow, folder: string): Promise<string> {
  const boxes = await client.list().catch(() => []);
  const use = SPECIAL_USE[folder.toLowerCase()];
  const resolved = (use && boxes.find((b) => b.specialUse === use)?.path) || folder;
  // The trash under any name (Papierkorb, Corbeille): moving there is deletion, which is for humans.
  if (boxes.find((b) => b.path === resolved)?.specialUse === '\\Trash') {
    throw new MailroomError('TOOL_INPUT_INVALID', `folder ${resolved} is the server's trash: moving there is deletion, a human decides`);
  }
  return resolved;
}

export function labelToKeyword(label: string): string {
  return label.replace(/[^A-Za-z0-9/_.-]/g, '_');
}

/** Mailroom's own record of labels, folders and flags: the whole effect for the file source, an index for IMAP. */
function recorded(deps: Deps, emailId: EmailId): MailboxActions {
  const ttl = deps.config.contentTtlSeconds;
  return {
    kind: 'recorded',
    async addLabel(label) {
      await deps.redis.sadd(deps.keys.labels(emailId), label);
    },
    async moveTo(folder) {
      await deps.redis.set(deps.keys.folder(emailId), folder, 'EX', ttl);
      return { folder };
    },
    async setFlags({ add, remove }) {
      const key = deps.keys.flags(emailId);
      const tx = deps.redis.multi();
      if (add.length) tx.sadd(key, ...add);
      if (remove.length) tx.srem(key, ...remove);
      await tx.expire(key, ttl).exec();
    },
  };
}

/**
 * Acts on the server through a short session: opens the folder the email is in now, checks that
 * its UIDVALIDITY is still the one the UID belongs to (otherwise the UID may name another
 * message), then changes that one UID. Each change is idempotent, so a retried step is harmless.
 */
function onServer(deps: Deps, emailId: EmailId, source: Extract<SourceInfo, { kind: 'imap' }>, account: ImapAccount): MailboxActions {
  const log = deps.logger.child({ component: 'imap-actions', emailId, account: account.name });
  const local = recorded(deps, emailId);
  const withMessage = async <T>(fn: (client: ImapFlow, loc: ImapLocation & { uid: number }) => Promise<T>): Promise<T> => {
    const loc = await currentLocation(deps, emailId, source);
    const uid = loc.uid;
    if (uid === null) throw new MailroomError('IMAP_MESSAGE_GONE', `the email's UID in ${loc.folder} is unknown (no UIDPLUS on the server)`);
    return withImapSession(account, { logger: log, tokens: deps.tokens }, async (client) => {
      let opened;
      try {
        opened = await client.mailboxOpen(loc.folder);
      } catch (err) {
        throw new MailroomError('IMAP_MESSAGE_GONE', `folder ${loc.folder} cannot be opened`, { cause: err });
      }
      if (String(opened.uidValidity) !== loc.uidValidity) {
        throw new MailroomError('IMAP_MESSAGE_GONE', `folder ${loc.folder} has a new UIDVALIDITY; the email's UID no longer names it`);
      }
      const found = await client.fetchAll(String(uid), { uid: true }, { uid: true }).catch((err: unknown) => {
        throw toImapError(err, account.name);
      });
      if (!found.some((m) => m.uid === uid)) throw new MailroomError('IMAP_MESSAGE_GONE', `UID ${uid} is no longer in ${loc.folder}`);
      return fn(client, { ...loc, uid });
    });
  };
  return {
    kind: 'imap',
    async addLabel(label) {
      await withMessage(async (client, loc) => {
        const gmail = client.capabilities.has('X-GM-EXT-1');
        const ok = gmail
          ? await client.messageFlagsAdd(String(loc.uid), [label], { uid: true, useLabels: true })
          : await client.messageFlagsAdd(String(loc.uid), [labelToKeyword(label)], { uid: true });
        if (!ok) throw new MailroomError('IMAP_COMMAND_FAILED', `the server refused label ${label}`);
      });
      await local.addLabel(label);
    },
    async moveTo(wanted) {
      const loc = await currentLocation(deps, emailId, source);
      if (loc.folder === wanted) return { folder: wanted }; // a retry after the move already happened
      let folder = wanted;
      await withMessage(async (client, at) => {
        folder = await serverFolder(client, wanted);
        if (loc.folder === folder) return;
        await client.mailboxCreate(folder).catch(() => undefined);
        const res = await client.messageMove(String(at.uid), folder, { uid: true });
        if (!res) throw new MailroomError('IMAP_COMMAND_FAILED', `the server refused to move the email to ${folder}`);
        const uid = res.uidMap?.get(at.uid) ?? null;
        const uidValidity = res.uidValidity !== undefined ? String(res.uidValidity) : at.uidValidity;
        await recordLocation(deps, emailId, { account: account.name, folder, uid, uidValidity });
      });
      await local.moveTo(folder);
      return { folder };
    },
    async setFlags(change) {
      await withMessage(async (client, loc) => {
        if (change.add.length) await client.messageFlagsAdd(String(loc.uid), change.add.map((f) => SYSTEM_FLAG[f]), { uid: true });
        if (change.remove.length) await client.messageFlagsRemove(String(loc.uid), change.remove.map((f) => SYSTEM_FLAG[f]), { uid: true });
      });
      await local.setFlags(change);
    },
  };
}

/** Picks the implementation from the email's trusted source: the server for IMAP mail, Redis otherwise. */
export function mailboxActionsFor(deps: Deps, emailId: EmailId, source: SourceInfo | undefined): MailboxActions {
  if (source?.kind === 'imap') {
    const account = deps.config.imap.find((a) => a.name === source.account);
    if (account) return onServer(deps, emailId, source, account);
    const gone = () => Promise.reject(new MailroomError('IMAP_MESSAGE_GONE', `IMAP account ${source.account} is no longer configured`));
    return { kind: 'imap', addLabel: gone, moveTo: gone, setFlags: gone };
  }
  return recorded(deps, emailId);
}
