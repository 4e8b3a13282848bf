import type { CaseId, EmailId, PlanId, UntrustedRef } from '../kernel/ids.js';

/**
 * Every Redis key Mailroom owns, in one place. All share the hash-tagged prefix (e.g. `{mailroom}`)
 * so that a Redis Cluster keeps them, and BullMQ's keys, in one slot.
 */
export function redisKeys(prefix: string) {
  return {
    /** A `SCAN … MATCH` pattern under the prefix, e.g. `match('content:*')`. */
    match: (tail: string) => `${prefix}:${tail}`,
    email: (id: EmailId) => `${prefix}:email:${id}`,
    emailsByTime: () => `${prefix}:emails`,
    audit: (id: EmailId) => `${prefix}:audit:${id}`,
    /**
     * An email archived out of Redis (src/history/archive.ts): its id stays known for a while, so a
     * re-delivery of it is a duplicate, not a new email. Expires (ARCHIVED_DEDUP_SECONDS).
     */
    archived: (id: EmailId) => `${prefix}:archived:${id}`,
    /** An email's triage record (src/store/run-store.ts); the key's name predates the record's. */
    triage: (id: EmailId) => `${prefix}:ctx:${id}`,
    content: (ref: UntrustedRef) => `${prefix}:content:${ref}`,
    /** What triage's reader read from a content (src/store/content-store.ts); expires with it. */
    readings: (ref: UntrustedRef) => `${prefix}:content:${ref}:read`,
    plan: (id: PlanId) => `${prefix}:plan:${id}`,
    planOutputs: (id: PlanId) => `${prefix}:plan:${id}:out`,
    /**
     * A parked plan's review (hash): what the reviewer was shown, its digest, the decision and who
     * made it. Only Mailroom writes it; Bull Board's job data is a copy for display.
     */
    review: (id: PlanId) => `${prefix}:review:${id}`,
    /** Digest mode: parked plans (member `planId__seq`, score: parked at, ms) awaiting their window's notice. */
    notifyDigest: () => `${prefix}:notify:digest`,
    idempotency: (key: string) => `${prefix}:idem:${key}`,
    labels: (id: EmailId) => `${prefix}:labels:${id}`,
    escalations: () => `${prefix}:escalations`,
    planCache: (key: string) => `${prefix}:plancache:${key}`,
    /** Counters (plan-cache hits and misses, …) for status and metrics. */
    stats: () => `${prefix}:stats`,
    /** Sorted set of reply reservations (member: idempotency key, score: ms) in one rate-limit window. */
    replyRate: (scope: 'sender' | 'domain' | 'global' | 'case', id: string) => `${prefix}:rate:${scope}:${id}`,
    /** Our outbound Message-ID → the email it answered, so a bounce can be linked back. */
    outbound: (messageId: string) => `${prefix}:outbound:${messageId}`,
    /**
     * A case (hash, src/store/case-store.ts): its customer, its ticket, one field per turn. Its own
     * TTL (CASE_TTL_SECONDS), renewed on every turn: it outlives the archiving of its emails.
     */
    case: (id: CaseId) => `${prefix}:case:${id}`,
    /** A Message-ID Mailroom minted (a reply, a team mail) → the case it belongs to; the follow-up link's only source. */
    caseMessage: (messageId: string) => `${prefix}:case:msg:${messageId}`,
    /** An email → its case, for the audit, the review page and the report after the email's own keys are archived. */
    caseOf: (id: EmailId) => `${prefix}:case:of:${id}`,
    /** This installation's secret for minting Message-IDs (random, made once, never leaves Redis). */
    mintSecret: () => `${prefix}:mint-secret`,
    /** Bounces reported on the replies to an email (hash: bounce email id → details). */
    bounces: (id: EmailId) => `${prefix}:bounces:${id}`,
    tickets: () => `${prefix}:tickets`,
    /** What later emails of a ticket's case added to it (list of JSON notes, oldest first). */
    ticketNotes: (ticketId: string) => `${prefix}:tickets:notes:${ticketId}`,
    refunds: () => `${prefix}:refunds`,
    /** What has been refunded of one order (hash: refund id → cents), so refunds never sum above what was paid. */
    orderRefunds: (account: string, order: string) => `${prefix}:refunds:order:${account}:${order}`,
    deletions: () => `${prefix}:deletions`,
    accountChanges: () => `${prefix}:account-changes`,
    /** Emails per ledger state, kept by the ledger's own transitions (for /metrics). */
    emailStateCounts: () => `${prefix}:emails:states`,
    /** IMAP catch-up point per account and folder: UIDVALIDITY and the last handled UID. */
    imapCheckpoint: (account: string, folder: string) => `${prefix}:imap:ckpt:${account}:${encodeURIComponent(folder)}`,
    /** A watcher's last known state (for /healthz, from any process). */
    imapStatus: (account: string, folder: string) => `${prefix}:imap:status:${account}:${encodeURIComponent(folder)}`,
    /** OAuth2 token sources' last known state (hash: source label → JSON { state, at, detail }), for /healthz and status. */
    oauthStatus: () => `${prefix}:oauth:status`,
    /** Which process watches a folder (a lease with a TTL). */
    imapLease: (account: string, folder: string) => `${prefix}:imap:lease:${account}:${encodeURIComponent(folder)}`,
    /** Where an IMAP email is now, once Mailroom moved it. */
    imapLocation: (id: EmailId) => `${prefix}:imap:loc:${id}`,
    /** The file source's stand-ins for server folders and flags. */
    folder: (id: EmailId) => `${prefix}:folder:${id}`,
    flags: (id: EmailId) => `${prefix}:flags:${id}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
