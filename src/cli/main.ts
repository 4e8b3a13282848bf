import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { inShadow, loadConfig, type Config } from '../config/config.js';
import { toMailroomError } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';
import { runProcess, runStatus } from './process-command.js';
import { formatTable } from './summary.js';
import { runArchive } from './archive-command.js';
import { runAudit } from './audit-command.js';
import { deadLetter, formatDeadLetter, listDeadLetters, requeueLetter } from './dead-letter-command.js';
import { runExport } from './export-command.js';
import { runForget } from './forget-command.js';
import { formatReport, runReport } from './report-command.js';
import { configBesideInputs, INPUT_CONFIG_NAME } from './input-config.js';
import { runPending, runReview } from './review-command.js';
import { parseRoles, runDaemon } from '../daemon/daemon.js';
import { registerEvalCommand } from '../eval/command.js';
import { BOARD_PATH } from '../web/bull-board.js';
import { REPORT_PATH } from '../web/report-html.js';
import { explainPolicy, formatExplanation } from './policy-command.js';
import { checkAutonomy } from '../planner/autonomy.js';
import { CategorySource, SenderTier, Verification } from '../model/trusted-context.js';
import { createRegistry } from '../tools/registry.js';
import { runAuthLogin, type LoginProvider } from './auth-command.js';
import { LOGIN_PROVIDERS, PROVIDER_PRESETS } from '../config/providers.js';
import { describeOAuthState } from '../oauth/token-source.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '../../examples');

interface GlobalOpts {
  config?: string;
}

/** `withoutSecrets`: for commands that never touch IMAP or serve the web: no secret need be set. */
function configFrom(
  cmd: Command,
  defaults: { logLevel: Config['logLevel']; withoutSecrets?: boolean; configPath?: string | undefined },
): Config {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  const env = { ...process.env };
  env.MAILROOM_LOG_LEVEL ??= defaults.logLevel;
  const config = loadConfig({ env, configPath: opts.config ?? defaults.configPath, withoutSecrets: defaults.withoutSecrets ?? false });
  // Autonomy rules that try to lift a limit are refused before any command runs (and again by createContext).
  checkAutonomy(config, createRegistry().tools);
  return config;
}

/** Commander parsers: a value that is not a number of the right kind is refused as the user typed it. */
function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of 1 or more is needed.');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a number above 0 is needed.');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('a number of 0 or more is needed.');
  return n;
}

function progress(enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return undefined;
  let last = -1;
  return (done: number, total: number) => {
    if (done === last) return;
    last = done;
    process.stderr.write(`\r${done}/${total} emails done`);
    if (done === total) process.stderr.write('\n');
  };
}

export function buildProgram(): Command {
  const program = new Command()
    .name('mailroom')
    .description('Email triage agent that cannot be hijacked by the emails it reads.')
    .option('-c, --config <file>', 'JSON config file (also MAILROOM_CONFIG)')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Environment:
  REDIS_URL          Redis to use; unset: a private redis-server under MAILROOM_DATA_DIR
  MAILROOM_DATA_DIR  data folder for the embedded Redis, the outbox, the installation id and history.sqlite (default .mailroom)
  DATABASE_URL       postgres://user:pass@host:5432/db: the history store in PostgreSQL, shared by several hosts;
                     unset: an SQLite file, MAILROOM_DATA_DIR/history.sqlite
  OPENAI_API_KEY     enables the LLM planner and readers; unset: the offline provider
  OPENAI_BASE_URL    any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp)
  OPENAI_MODEL       model name (default gpt-4.1-mini)
  SMTP_URL           smtp(s)://user:pass@host:port for replies (overrides the config's "smtp"); unset and no "smtp"
                     server in the config: .eml files in the outbox
  MAILROOM_HTTP_PORT port of the web role's /healthz, /metrics, Bull Board and /admin/report (default 9310)
  MAILROOM_REVIEWERS logins for Bull Board and the report page, name:password,name:password (unset: one generated per start, loopback only)
  MAILROOM_LOG_LEVEL fatal|error|warn|info|debug (default info for start, error for process and demo, warn otherwise)`,
    );

  program
    .command('process')
    .description('process .eml files or folders through the whole pipeline and print what happened')
    .argument('<paths...>', '.eml files, or folders searched (with subfolders) for .eml files')
    .option('--json', 'print one JSON summary object instead of the table')
    .option('--shadow', 'shadow mode: plan everything, act on nothing; the emails end "shadowed" with what would have been done')
    .addOption(new Option('--timeout <seconds>', 'give up waiting after this long').argParser(positiveNumber).default(300))
    .addHelpText(
      'after',
      `
Config: --config, else MAILROOM_CONFIG, else built-in defaults; \`mailroom process examples/\` runs
on the bundled examples' ${INPUT_CONFIG_NAME}, as demo does. A ${INPUT_CONFIG_NAME} found
among other input is named on stderr but never loaded: mail input does not configure Mailroom.`,
    )
    .action(async (paths: string[], opts: { json?: boolean; shadow?: boolean; timeout: number }, cmd: Command) => {
      const given = cmd.optsWithGlobals<GlobalOpts>().config ?? process.env.MAILROOM_CONFIG;
      const beside = given ? { ignored: [] } : configBesideInputs(paths, path.join(EXAMPLES, INPUT_CONFIG_NAME));
      const shown = (f: string) => path.relative(process.cwd(), f) || f;
      if (beside.use) process.stderr.write(`mailroom: using ${shown(beside.use)} (the bundled examples' config; --config chooses another)\n`);
      for (const f of beside.ignored) process.stderr.write(`mailroom: not using ${shown(f)}, found among the input (mail input does not configure Mailroom): pass --config ${shown(f)} to use it\n`);
      const loaded = configFrom(cmd, { logLevel: 'error', withoutSecrets: true, configPath: beside.use });
      const config = opts.shadow ? inShadow(loaded) : loaded;
      const summary = await runProcess(config, createLogger({ level: config.logLevel }), {
        paths,
        timeoutMs: opts.timeout * 1000,
        onProgress: progress(!opts.json),
        shadow: Boolean(opts.shadow),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatTable(summary)}\n`);
      if (summary.lost > 0) process.exitCode = 1;
    });

  program
    .command('report')
    .description('what happened to the mail taken in recently, per mailbox and category (and, in shadow mode, what would have)')
    .option('--since <duration>', 'how far back: 90m, 24h, 7d, 2w', '7d')
    .option('--json', 'print JSON')
    .action(async (opts: { since: string; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const report = await runReport(config, createLogger({ level: config.logLevel }), opts.since);
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatReport(report));
    });

  program
    .command('demo')
    .description('process the bundled examples/ on embedded defaults (fresh data under .mailroom/demo)')
    .option('--json', 'print the JSON summary instead of the table')
    .option('--serve', 'then keep the daemon and Bull Board running on loopback with the parked plans (Ctrl-C stops)')
    .action(async (opts: { json?: boolean; serve?: boolean }) => {
      const dataDir = path.resolve('.mailroom/demo');
      rmSync(dataDir, { recursive: true, force: true });
      const env: NodeJS.ProcessEnv = { ...process.env, MAILROOM_DATA_DIR: dataDir, MAILROOM_LOG_LEVEL: process.env.MAILROOM_LOG_LEVEL ?? 'error' };
      // The demo's mail stays in its own folder: not a shared Redis, relay or history database.
      delete env.REDIS_URL;
      delete env.SMTP_URL;
      delete env.DATABASE_URL;
      const config = loadConfig({ env, configPath: path.join(EXAMPLES, 'mailroom.config.json'), withoutSecrets: !opts.serve });
      const logger = createLogger({ level: config.logLevel });
      const summary = await runProcess(config, logger, {
        paths: [path.join(EXAMPLES, 'mailbox')],
        threads: path.join(EXAMPLES, 'threads'),
        timeoutMs: 300_000,
        onProgress: progress(!opts.json),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        process.stdout.write(`${formatTable(summary)}\n`);
        process.stdout.write(`replies written to ${path.relative(process.cwd(), config.smtp.outboxDir)}/ (no SMTP configured)\n`);
        const example = summary.emails.find((e) => e.state === 'awaiting_approval') ?? summary.emails[0];
        if (example && !opts.serve) {
          const env = `MAILROOM_DATA_DIR=${path.relative(process.cwd(), dataDir)}`;
          process.stdout.write(`audit trail of one email:   ${env} ./bin/mailroom.js audit ${example.emailId}\n`);
          process.stdout.write(`plans waiting for a human:  ${env} ./bin/mailroom.js pending\n`);
          process.stdout.write('review them in a browser:   npm run demo -- --serve\n');
        }
      }
      if (summary.lost > 0) process.exitCode = 1;
      if (!opts.serve) return;
      // The same data folder: the daemon's embedded Redis reopens what the demo left (AOF).
      await runDaemon(config, logger, {
        roles: ['triage', 'planner', 'executor', 'web'],
        onWebReady: ({ url, login }) => {
          const pending = summary.emails.filter((e) => e.state === 'awaiting_approval').length;
          process.stdout.write(
            [
              '',
              `Bull Board: ${url}/queue/approval?status=delayed   (${pending} plans wait for a human)`,
              `Report:     ${url.slice(0, -BOARD_PATH.length)}${REPORT_PATH}   (what happened to the demo's mail, with charts)`,
              login
                ? `sign in as: ${login.name}   password: ${login.password}   (generated for this run; loopback only)`
                : 'sign in as one of the reviewers in MAILROOM_REVIEWERS or the config file',
              'open a plan and its "Review and decide" link: the review page states what approving does, with Approve and Reject (with a reason).',
              `from another shell: MAILROOM_DATA_DIR=${path.relative(process.cwd(), dataDir)} ./bin/mailroom.js pending`,
              'Ctrl-C stops the daemon.',
              '',
            ].join('\n'),
          );
        },
      });
    });

  program
    .command('status')
    .description('emails by state, queue depths, the latest emails and the OAuth2 logins\' states')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many recent emails to list', positiveInteger, 20)
    .action(async (opts: { json?: boolean; limit: number }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const status = await runStatus(config, createLogger({ level: config.logLevel }), opts.limit);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(status)}\n`);
        return;
      }
      const lines = [`emails: ${status.total}`, ...Object.entries(status.states).map(([s, n]) => `  ${s.padEnd(18)} ${n}`), 'queues:'];
      for (const [q, c] of Object.entries(status.queues)) lines.push(`  ${q.padEnd(12)} ${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      lines.push(`plan cache: ${status.planCache.hits} hits, ${status.planCache.misses} misses`);
      const logins = Object.entries(status.oauth2);
      if (logins.length) lines.push('oauth2 logins:');
      for (const [label, s] of logins) lines.push(`  ${label.padEnd(20)} ${describeOAuthState(s.state)}${s.detail ? `\n    ${s.detail}` : ''}`);
      if (status.deadLetters.length) lines.push('dead letters:');
      for (const d of status.deadLetters) lines.push(`  ${d.emailId ?? '-'}  ${d.stage.padEnd(7)} ${d.code}: ${d.reason}`);
      lines.push('recent:');
      for (const r of status.recent) lines.push(`  ${r.emailId}  ${r.state.padEnd(17)} ${r.category.padEnd(16)} ${r.reason}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  program
    .command('pending')
    .description('plans waiting for a human, with the reasons they parked')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many to list', positiveInteger, 50)
    .option('--full', 'also the trusted facts, the steps, the audit trail and the email (marked untrusted), as the board shows them, and the email’s case')
    .action(async (opts: { json?: boolean; limit: number; full?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const pending = await runPending(config, createLogger({ level: config.logLevel }), opts.limit, { full: Boolean(opts.full) });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(pending)}\n`);
        return;
      }
      if (!pending.length) process.stdout.write('no plans are waiting for approval\n');
      for (const p of pending) {
        const lines = [`${p.emailId}  ${p.title}  (parked ${p.parkedAt.slice(0, 16)}, deadline ${p.deadline.slice(0, 16)})`];
        for (const r of p.reasons) lines.push(`    why:    ${r}`);
        lines.push('    if you approve:', ...p.effectLines.map((l) => `      ${l}`));
        for (const [section, body] of Object.entries(p.board ?? {})) {
          lines.push(`    ${section}:`, ...(Array.isArray(body) ? body : Object.entries(body).map(([k, v]) => `${k}: ${v}`)).map((l) => `      ${l}`));
        }
        if (p.case) lines.push('    the case (its emails in order, Mailroom’s facts only):', ...p.case.map((l) => `      ${l}`));
        process.stdout.write(`${lines.join('\n')}\n\n`);
      }
    });

  for (const verdict of ['approve', 'reject'] as const) {
    program
      .command(verdict)
      .description(verdict === 'approve' ? 'approve a parked plan: it resumes at its gate' : 'reject a parked plan: the email ends rejected')
      .argument('<emailId>', 'the email whose plan is parked')
      .requiredOption('--by <name>', 'who decides (recorded in the audit trail)')
      .option('--reason <text>', 'why (reject)')
      .action(async (emailId: string, opts: { by: string; reason?: string }, cmd: Command) => {
        const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
        await runReview(config, createLogger({ level: config.logLevel }), { verdict, emailId, reviewer: opts.by, reason: opts.reason });
        process.stdout.write(`${emailId} ${verdict === 'approve' ? 'approved' : 'rejected'} by ${opts.by}\n`);
      });
  }

  const policy = program.command('policy').description('the autonomy policy: what Mailroom may do alone (the config\'s "autonomy" section)');
  policy
    .command('explain')
    .description('for an email with these trusted facts, the level each write or external tool would get, and why (the rule, or the limit that overrode it)')
    .requiredOption('--category <name>', 'the category (one of the configured categories, or unknown)')
    .addOption(new Option('--source <source>', 'where the category came from: a routing rule, or the classifier (an attacker can choose it)').choices(CategorySource.options).default('classifier'))
    .addOption(new Option('--tier <tier>', "the sender's account tier (none: no account)").choices(SenderTier.options).default('none'))
    .addOption(new Option('--verified <method>', 'how the sender was verified').choices(Verification.options).default('dmarc'))
    .option('--robot', 'the email is robot mail (auto-reply, bounce, list)')
    .option('--amount <n>', 'the amount of a money step (issue_refund); unset: it comes from an earlier step and is checked when the step runs', nonNegativeNumber)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  mailroom -c mailroom.config.json policy explain --category billing --tier pro --verified dkim --source route --amount 15')
    .action((opts: { category: string; source: string; tier: string; verified: string; robot?: boolean; amount?: number; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const amount = opts.amount ?? null;
      const explained = explainPolicy(config, createRegistry(), { category: opts.category, source: opts.source, tier: opts.tier, verified: opts.verified, robot: Boolean(opts.robot), amount });
      process.stdout.write(opts.json ? `${JSON.stringify(explained)}\n` : formatExplanation(explained));
    });

  program
    .command('audit')
    .description("print an email's audit trail")
    .argument('<emailId>', 'an email id such as em_0123456789abcdef')
    .option('--json', 'print one JSON document: { emailId, record, events }')
    .option('--texts', 'also print the full text of every message shadow mode would have sent')
    .action(async (emailId: string, opts: { json?: boolean; texts?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      process.stdout.write(await runAudit(config, createLogger({ level: config.logLevel }), emailId, Boolean(opts.json), Boolean(opts.texts)));
    });

  const deadLetters = program
    .command('dead-letters')
    .description('mail and jobs Mailroom could not handle, with the reason (newest first)')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many to list', positiveInteger, 50)
    .action(async (opts: { json?: boolean; limit: number }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const list = await listDeadLetters(config, createLogger({ level: config.logLevel }), opts.limit);
      if (opts.json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else process.stdout.write(list.length ? `${list.map(formatDeadLetter).join('\n')}\n` : 'no dead letters\n');
    });
  deadLetters
    .command('show')
    .description('one dead letter')
    .argument('<id>', 'its id, as `mailroom dead-letters` lists it')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const letter = await deadLetter(config, createLogger({ level: config.logLevel }), id, null);
      process.stdout.write(opts.json ? `${JSON.stringify(letter)}\n` : `${formatDeadLetter(letter)}\n`);
    });
  deadLetters
    .command('discard')
    .description("remove a dead letter once it is dealt with (recorded in its email's audit trail)")
    .argument('<id>', 'its id, as `mailroom dead-letters` lists it')
    .requiredOption('--by <name>', 'who discards it')
    .action(async (id: string, opts: { by: string }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const letter = await deadLetter(config, createLogger({ level: config.logLevel }), id, { by: opts.by });
      process.stdout.write(`${letter.id} discarded by ${opts.by}\n`);
    });
  deadLetters
    .command('requeue')
    .description('run the email again from the stage that failed, once the cause is fixed, and wait until it rests (recorded in its trail)')
    .argument('<id>', 'its id, as `mailroom dead-letters` lists it')
    .requiredOption('--by <name>', 'who requeues it')
    .addOption(new Option('--timeout <seconds>', 'give up waiting for the email to rest after this long').argParser(positiveNumber).default(300))
    .addHelpText(
      'after',
      `
The failed job runs again as it was: what the run already did stays done (a reply sent is not
sent twice; a send that stopped halfway still goes to a human). Refused, with the reason, when
nothing is left to run: a message never read (too large), an email archived or no longer
quarantined, its job or its text expired.`,
    )
    .action(async (id: string, opts: { by: string; timeout: number }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn' });
      const { letter, record } = await requeueLetter(config, createLogger({ level: config.logLevel }), id, opts.by, opts.timeout * 1000);
      const state = record ? `${record.state}${record.reason ? ` (${record.reason})` : ''}` : 'not at rest yet';
      process.stdout.write(`${letter.id} requeued by ${opts.by}: email ${letter.emailId ?? '-'} is ${state}\n`);
    });

  program
    .command('archive')
    .description('move the history (ledger record, audit trail, labels) of emails at rest out of Redis into the history store, then apply retention')
    .option('--older-than <duration>', "only emails whose last change is older than this (0s: every email at rest; default: the config's retention.archiveAfter, 14d unless set)")
    .action(async (opts: { olderThan?: string }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const r = await runArchive(config, createLogger({ level: config.logLevel }), opts.olderThan, (line) => process.stderr.write(`mailroom: ${line}\n`));
      process.stdout.write(`archived ${r.archived} emails; ${r.skipped} left in Redis (not at rest, or too recent)\n`);
      process.stdout.write(`retention: ${r.historyDeleted} emails past retention.history deleted; ${r.contentCapped} content keys cut to retention.content\n`);
    });

  program
    .command('export')
    .description('every email taken in since a date, from Redis and the history store, to stdout: one JSON object or CSV row an email')
    .requiredOption('--since <date>', 'from this date (2026-01-31, midnight UTC) or date and time (2026-01-31T08:00:00Z)')
    .addOption(new Option('--format <format>', 'jsonl: record, labels and the whole trail; csv: one row of the record and the trail\'s length').default('jsonl'))
    .action(async (opts: { since: string; format: string }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const n = await runExport(config, createLogger({ level: config.logLevel }), { since: opts.since, format: opts.format, out: process.stdout });
      process.stderr.write(`mailroom: exported ${n} emails\n`);
    });

  program
    .command('forget')
    .description("erase a customer: their emails' content, history, jobs, rate-limit and dedup entries, from Redis and the history store")
    .argument('<address>', "the customer's email address")
    .requiredOption('--by <name>', 'who asks (recorded with the time and the counts; the address is not kept)')
    .addHelpText(
      'after',
      `
Emails still being worked on are left and counted: run forget again once they rest. The erasure
log in the history store keeps who, when and how many, never the address.`,
    )
    .action(async (address: string, opts: { by: string }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn', withoutSecrets: true });
      const r = await runForget(config, createLogger({ level: config.logLevel }), { address, by: opts.by });
      process.stdout.write(`forgot ${r.emails} emails (${r.redisKeys} Redis keys, ${r.outboxFiles} outbox files) at ${r.at}, by ${r.by}\n`);
      if (r.inFlight > 0) {
        process.stdout.write(`${r.inFlight} emails are still being worked on and were left: run forget again once they rest\n`);
        process.exitCode = 75;
      }
    });

  program
    .command('start')
    .description('run the daemon: IMAP watchers, workers and the HTTP server until SIGTERM/SIGINT')
    .option('--role <roles>', 'comma-separated roles: imap,triage,planner,executor,web (default: all; "ingest" is the old name of imap)')
    .option('--shadow', 'every mailbox in shadow mode for this run: mail taken in is planned, never acted on (and stays so)')
    .action(async (opts: { role?: string; shadow?: boolean }, cmd: Command) => {
      const roles = parseRoles(opts.role, (message) => process.stderr.write(`mailroom: warning: ${message}\n`));
      const loaded = configFrom(cmd, { logLevel: 'info' });
      const config = opts.shadow ? inShadow(loaded) : loaded;
      await runDaemon(config, createLogger({ level: config.logLevel }), { roles });
    });

  const auth = program.command('auth').description('OAuth2 logins for IMAP and SMTP (Google Workspace, Microsoft 365)');
  auth
    .command('login')
    .description('sign in with the OAuth2 device-code flow and store the refresh token where the config\'s oauth2.refreshToken file says (mode 0600)')
    .addOption(new Option('--provider <provider>', 'whose sign-in page: google or microsoft').choices(Object.keys(LOGIN_PROVIDERS)).makeOptionMandatory())
    .option('--account <name>', 'the IMAP account (its "name") or "smtp"; needed when the config has more than one oauth2 login')
    .addHelpText(
      'after',
      `
Prints a URL and a code: open the URL on any device, enter the code and sign in as the mailbox.
Scopes asked for (unless the config's oauth2.scopes says otherwise):
  google     ${PROVIDER_PRESETS.google.oauth2?.scopes.join(' ') ?? ''}
  microsoft  ${PROVIDER_PRESETS.microsoft365.oauth2?.scopes.join(' ') ?? ''}
A running daemon reads the new token at its next connect; no restart is needed.
Google's device flow grants few scopes and may refuse the mail scope (invalid_scope): the
README's Google recipe says what to do then.

Example:
  mailroom -c mailroom.config.json auth login --provider microsoft --account support`,
    )
    .action(async (opts: { provider: LoginProvider; account?: string }, cmd: Command) => {
      const config = configFrom(cmd, { logLevel: 'warn' });
      const stored = await runAuthLogin(config, {
        provider: opts.provider,
        account: opts.account,
        onPrompt: ({ verificationUri, userCode, expiresInS }) => {
          process.stdout.write(`To sign in, open ${verificationUri} and enter the code ${userCode} (valid ${Math.round(expiresInS / 60)} minutes).\nWaiting for the sign-in…\n`);
        },
      });
      process.stdout.write(`Signed in: stored the refresh token for ${stored.account} in ${stored.file} (mode 0600).\n`);
    });

  registerEvalCommand(program, EXAMPLES);
  return program;
}

/** Runs the CLI; every failure is one line on stderr and a non-zero exit, never a stack trace. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'exitCode' in err && 'code' in err && String(err.code).startsWith('commander.')) {
      process.exitCode = Number(err.exitCode);
      return;
    }
    const e = toMailroomError(err);
    process.stderr.write(`mailroom: ${e.message} [${e.publicCode}]\n`);
    if (process.env.MAILROOM_DEBUG && e.cause) process.stderr.write(`${String((e.cause as Error).stack ?? e.cause)}\n`);
    process.exitCode = e.exitCode;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv);
}
