import type { z } from 'zod';
import type { Config } from '../config/config.js';
import type { LlmGateway } from '../llm/gateway.js';
import type { Mailer } from '../mail/mailer.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import type { AccountsDirectory } from '../store/accounts.js';
import type { ContentStore } from '../store/content-store.js';
import type { KnowledgeBase } from '../store/knowledge-base.js';
import type { EmailRef, EmailId, PlanId } from '../kernel/ids.js';
import type { TrustedContext } from '../model/trusted-context.js';
import type { Logger } from '../kernel/logger.js';
import type { MailboxActions } from '../mail/mailbox-actions.js';
import type { Confidentiality } from '../model/label.js';

/** What running a tool can do to the world. */
export type Risk = 'read' | 'write' | 'external';

/**
 * The services a tool may use (its `ToolContext` adds the step it runs in). A tool that needs a
 * new service: add it here and build it in `createContext` (src/app/context.ts) — the lifecycle hands every tool
 * these through `toolServices`, so nothing else changes.
 */
export interface ToolServices {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  llm: LlmGateway;
  kb: KnowledgeBase;
  accounts: AccountsDirectory;
  content: ContentStore;
  mailer: Mailer;
  /** The time tools stamp on what they record; tests may fix it. */
  clock: () => Date;
}

/** The tool services of an app, and nothing else of it (no ledger, queues or audit trail). */
export function toolServices(app: ToolServices): ToolServices {
  const { config, redis, keys, llm, kb, accounts, content, mailer, clock } = app;
  return { config, redis, keys, llm, kb, accounts, content, mailer, clock };
}

/**
 * Everything a tool may use at run time: the tool services above and the step it
 * runs in. Built in one place, `toolContextFor` in src/run/lifecycle.ts.
 */
export interface ToolContext extends ToolServices {
  emailId: EmailId;
  planId: PlanId;
  stepId: string;
  /** plan id + step id: recorded before any side effect, so a retried step never repeats it. */
  idempotencyKey: string;
  trusted: TrustedContext;
  /** The email's untrusted content (`{{email.ref}}`), for tools that read it. */
  emailRef: EmailRef;
  /** The step's logger (ids only). */
  logger: Logger;
  /** Who approved this step, when a human did (the plan's gate); absent for automatic steps. */
  approvedBy?: string;
  /** The email's own message on its server (IMAP) or Mailroom's record of it (file source). */
  mailbox: MailboxActions;
}

/** A message a tool sends (or, in shadow mode, would send): its recipient, subject and full text. */
export interface OutboundPreview {
  to: string;
  subject: string;
  text: string;
}

/**
 * What a write or external tool would do, computed without doing it (shadow mode): the output it
 * would return, so later steps resolve as in a live run, and every message it would send. A
 * preview makes the same checks as `run` and throws the same errors (a refused draft still parks).
 */
export interface ToolPreview<O> {
  output: O;
  messages: OutboundPreview[];
}

/**
 * A tool is data plus one function. The planner prompt, the validator, the approval policy and
 * the review view are all derived from these fields.
 */
export interface ToolDescriptor<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  risk: Risk;
  input: I;
  output: O;
  /** Parameters that may receive values derived from untrusted content (e.g. a reply body). */
  untrustedInputs: readonly string[];
  /** Output fields derived from untrusted content. */
  taintedOutputs: readonly string[];
  /**
   * An endorser checks a tainted input against trusted data (e.g. an order id typed by the
   * customer against the verified sender's own orders) and returns only what passed the check, so
   * its outputs are trusted. This is the only way a value from email text reaches a control
   * parameter; the registry refuses a tool that takes untrusted input and emits untainted output
   * without saying how it checks.
   */
  endorses?: { input: string; against: string };
  /**
   * Inputs that take a literal the planner wrote or an earlier step's output (a lookup), never a
   * `{{context.…}}` value. The context's numbers are trusted measurements of the sender's own
   * mail (its size, its attachment count): they fit a number parameter, yet the sender chose them,
   * so they must never become an amount of money.
   */
  lookupInputs?: readonly string[];
  /** Confidentiality of the output; `inherit` = the union of the inputs' labels. */
  outputLabel: Confidentiality | 'inherit';
  /** For tools that send data out: who reads what flows in. */
  audience?: 'sender' | 'internal' | 'anyone';
  /** Set for money, deletion, account changes and mail to arbitrary recipients: a human must approve. */
  requiresApproval?: string;
  /**
   * Set (with why) for a tool whose draft was written by a model that read the email: such a draft
   * is a suggestion for a human. The approval policy parks every plan that would send it, and the
   * sending tools refuse it without a reviewer's approval.
   */
  suggestion?: string;
  /** True when the tool changes something outside Mailroom; it must honour `idempotencyKey`. */
  sideEffect: boolean;
  run(input: z.output<I>, ctx: ToolContext): Promise<z.input<O>>;
  /**
   * Shadow mode's stand-in for `run`: no side effect at all (no mail, no server change, no Redis
   * write, no webhook). Required for every `write` and `external` tool (the registry checks).
   */
  preview?(input: z.output<I>, ctx: ToolContext): Promise<ToolPreview<z.input<O>>>;
}

/** Declares a tool with its types checked against its own schemas. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(tool: ToolDescriptor<I, O>): ToolDescriptor<I, O> {
  return tool;
}
