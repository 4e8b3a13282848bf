import type { Config } from '../config/config.js';
import type { EmailId } from '../kernel/ids.js';
import type { LlmGateway } from '../llm/gateway.js';
import { classifyForTriage } from '../tools/classify-email.js';
import type { ContentReadings } from '../store/content-store.js';
import { toAccount, type AccountsDirectory } from '../store/accounts.js';
import type { ParsedEmail } from './parse-email.js';
import { detectRobot } from './robot-detector.js';
import { robotSignalsFromHeaders } from './robot-signals.js';
import { threadHeaderProblem } from './follow-up-link.js';
import { verifySenderBinding, type VerificationInput } from './sender-verification.js';
import { type LocalAuthResult } from '../model/verification.js';
import { TrustedContext, type Category, type SourceInfo } from '../model/trusted-context.js';

export interface TriageDeps {
  config: Config;
  llm: LlmGateway;
  accounts: AccountsDirectory;
}

/** The configured IMAP account an email came through, if any. */
export function imapAccountOf(config: Config, source: SourceInfo) {
  return source.kind === 'imap' ? config.imap.find((a) => a.name === source.account) : undefined;
}

function routeCategory(config: Config, mailbox: string, folder: string | null, source: SourceInfo): Category | null {
  for (const r of imapAccountOf(config, source)?.routes ?? []) {
    if (folder !== null && r.folder === folder) return { name: r.category, source: 'route' };
  }
  for (const r of config.routes) {
    if (r.alias && r.alias.toLowerCase() === mailbox.toLowerCase()) return { name: r.category, source: 'route' };
    if (r.folder && folder !== null && r.folder === folder) return { name: r.category, source: 'route' };
  }
  return null;
}

/**
 * What triage established, and apart from it what its sandboxed reader read from the untrusted
 * content: `readings` are tainted and go to the content store beside the content, never into
 * `trusted` (whose strict schema has no place for them) nor to the planner.
 */
export interface TriageResult {
  trusted: TrustedContext;
  readings: ContentReadings | null;
  /** Why In-Reply-To/References cannot link this email to a case, or null when the verified signature binds them (src/ingest/follow-up-link.ts). */
  threadProblem: string | null;
}

/**
 * Builds the TrustedContext: sender verification, robot detection, category (route first, else
 * the sandboxed classifier, skipped for robots so they cost no model call) and account lookup
 * from the verified address only. The classifier's call also reads the email's closed-vocabulary
 * facts (`readings`), so a read_facts step later costs no second call.
 */
export async function triage(
  deps: TriageDeps,
  input: { emailId: EmailId; parsed: ParsedEmail; source: SourceInfo; receivedAt: Date; mailbox?: string; localAuth?: LocalAuthResult },
): Promise<TriageResult> {
  const { config, llm, accounts } = deps;
  const { facts, content } = input.parsed;
  const mailbox = input.mailbox ?? imapAccountOf(config, input.source)?.address ?? config.mailbox.address;
  const folder = input.source.kind === 'imap' ? input.source.folder : null;
  const { sender, signature } = verifySenderBinding({ ...verificationInput(config, input.parsed, input.source), local: input.localAuth, now: input.receivedAt.getTime() });
  const mailboxDomain = config.mailbox.address.slice(config.mailbox.address.lastIndexOf('@') + 1);
  const auto = detectRobot(
    robotSignalsFromHeaders(facts.headerLines, { from: facts.fromAddresses[0] ?? null, subject: content.subject }),
    { ourDomains: [mailboxDomain] },
  );
  let category = routeCategory(config, mailbox, folder, input.source);
  let readings: ContentReadings | null = null;
  if (!category) {
    if (auto.kind === 'none') {
      const read = await classifyForTriage(llm, config.categories, content);
      category = { name: read.category, source: 'classifier' };
      readings = read.facts ? { facts: read.facts } : null;
    } else category = { name: 'unknown', source: 'classifier' };
  }
  const record = sender.verified ? accounts.byEmail(sender.address) : undefined;
  const trusted = TrustedContext.parse({
    emailId: input.emailId,
    mailbox,
    folder,
    uid: input.source.kind === 'imap' ? input.source.uid : null,
    sizeBytes: facts.sizeBytes,
    receivedAt: input.receivedAt.toISOString(),
    sender,
    account: record ? toAccount(record) : null,
    category,
    attachments: { count: content.attachments.length, types: facts.attachmentTypes.slice(0, 50) },
    auto: { kind: auto.kind, reason: auto.reason },
  });
  return { trusted, readings, threadProblem: threadHeaderProblem(signature, facts.auth.threadCounts) };
}

/** The trusted facts sender verification works from (the local check and the clock are added by the caller). */
export function verificationInput(config: Config, parsed: ParsedEmail, source: SourceInfo): Omit<VerificationInput, 'local' | 'now'> {
  const v = config.verification;
  return {
    fromAddresses: parsed.facts.fromAddresses,
    facts: parsed.facts.auth,
    policy: {
      profile: v.profile,
      authservId: config.authservId,
      receivedBy: v.receivedBy,
      inboundResultsRemoved: v.inboundResultsRemoved,
      trustedSenders: config.trustedSenders,
      ourAddresses: v.ourAddresses,
      maxAgeMs: v.maxAgeSeconds === null ? null : v.maxAgeSeconds * 1000,
    },
    trustedMailbox: imapAccountOf(config, source)?.trusted ?? false,
  };
}
