/**
 * Chaos run: `npm run chaos -- [--json] [--cluster] [--emails N] [--quick] [--kills K] [--no-poison] [--timeout-s S]`.
 * Roles in separate processes against one Redis with AOF (or, with --cluster, a 3-node Redis
 * Cluster), N emails (default 2000) through a local Dovecot, while executors are SIGKILLed and
 * restarted at random, Redis and Dovecot restart once, and one poison job kills its worker every
 * time it runs. Prints one JSON object; exits 1 if anything was lost or done twice.
 * `--quick`: 150 emails, 2 kills. Everything on loopback; needs redis-server and dovecot.
 */
import { runChaos } from '../test/harness/chaos.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string): number | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > 100_000) {
    process.stderr.write(`chaos: ${name} needs a whole number from 1 to 100000\n`);
    process.exit(2);
  }
  return v;
};
const quick = flag('--quick');
const json = flag('--json');
const report = await runChaos({
  emails: value('--emails') ?? (quick ? 150 : 2000),
  kills: value('--kills') ?? (quick ? 2 : 6),
  cluster: flag('--cluster'),
  poison: !flag('--no-poison'),
  timeoutMs: (value('--timeout-s') ?? (quick ? 240 : 1_200)) * 1000,
  log: (line) => process.stderr.write(`chaos: ${line}\n`),
});
process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`);
process.exit(report.lost === 0 && report.duplicate_side_effects === 0 ? 0 : 1);
