import path from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';
import { loadCorpus } from './corpus.js';
import { progressBar } from './progress.js';
import { EvalAgent, EvalModel, formatReport } from './report.js';
import { runEval } from './runner.js';

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new MailroomError('CONFIG_INVALID', `${name} must be a positive whole number`);
  return n;
}

/**
 * Registers `mailroom eval injections`. The runs use the example company's configuration,
 * accounts and knowledge base (the base emails are its customers'); REDIS_URL and the OPENAI_*
 * variables are honoured as everywhere.
 */
export function registerEvalCommand(program: Command, examplesDir: string): void {
  const evalCommand = program.command('eval').description('measure what injected text can make an agent do');
  evalCommand
    .command('injections')
    .description(
      "differential prompt-injection eval: each corpus payload in benign customer emails, against a benign run of each " +
        "(on the example company's config, accounts and knowledge base; REDIS_URL and OPENAI_* are honoured)",
    )
    .requiredOption('--corpus <file>', 'JSON array of { id, payload, technique?, attacker_goal_kind?, placement? }')
    .addOption(new Option('--agent <agent>', 'who handles the mail').choices(EvalAgent.options).default('mailroom'))
    .addOption(
      new Option('--model <model>', 'the model that reads the email: worst-case, evasive (both served locally), or endpoint (OPENAI_*)')
        .choices(EvalModel.options)
        .default('worst-case'),
    )
    .option('--json', 'print one JSON object instead of the summary')
    .option('--limit <n>', 'run only the first n items of the corpus')
    .addOption(new Option('--concurrency <n>', 'items run at the same time').default('2'))
    .action(async (opts: { corpus: string; agent: string; model: string; json?: boolean; limit?: string; concurrency: string }) => {
      const env = { ...process.env, MAILROOM_LOG_LEVEL: process.env.MAILROOM_LOG_LEVEL ?? 'fatal' };
      const config = loadConfig({ env, configPath: path.join(examplesDir, 'mailroom.config.json'), overrides: { localSenderVerification: false } });
      let corpus = loadCorpus(opts.corpus);
      if (opts.limit !== undefined) corpus = corpus.slice(0, positiveInt(opts.limit, '--limit'));
      const agent = EvalAgent.parse(opts.agent);
      const model = EvalModel.parse(opts.model);
      const report = await runEval({
        corpus,
        agent,
        model,
        config,
        logger: createLogger({ level: config.logLevel }),
        concurrency: positiveInt(opts.concurrency, '--concurrency'),
        onProgress: progressBar(`${agent}/${model}`),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
      if (report.errors > 0) {
        process.stderr.write(`mailroom: ${report.errors} corpus item(s) could not be run\n`);
        process.exitCode = 1;
      }
    });
}
