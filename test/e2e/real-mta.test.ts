import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DOVECOT_LMTP, MAIL_PATH_BINARIES, OUR_MX } from '../harness/mail-path.js';
import { DANA, type RigCaseResult, type RigResult } from '../harness/real-mta-rig.js';

/**
 * Issue 28 on a real mail path: Debian's Postfix with rspamd as milter, nsd serving the
 * customer's DKIM key, SPF and DMARC, delivery to Dovecot over LMTP, swaks to send, and the real
 * CLI (`mailroom process --json`) over what Dovecot delivered. All of it runs in a network and
 * PID namespace of its own (`unshare -n -p`), so every packet stays on its loopback and nothing
 * outlives the rig (test/harness/real-mta-rig.ts).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RIG = path.join(ROOT, 'test/harness/real-mta-rig.ts');

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function whyNot(): string | null {
  const missing: string[] = MAIL_PATH_BINARIES.filter((b) => !onPath(b));
  try {
    accessSync(DOVECOT_LMTP, constants.X_OK);
  } catch {
    missing.push(`${DOVECOT_LMTP} (dovecot-lmtpd)`);
  }
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install postfix rspamd nsd swaks dovecot-imapd dovecot-lmtpd ldnsutils)`;
  if (process.getuid?.() !== 0) return 'needs root (unshare -n, a private Postfix)';
  return null;
}

// Outside CI a machine without the binaries skips with the reason; in CI the test always runs.
const skip = process.env.CI ? null : whyNot();

/** Runs the rig in its own network and PID namespace; resolves with what it wrote. */
function runRig(): Promise<RigResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-real-mta-'));
  const out = path.join(dir, 'result.json');
  return new Promise<RigResult>((resolve, reject) => {
    const proc = spawn('unshare', ['-n', '-p', '--fork', '--kill-child', process.execPath, '--import', 'tsx', RIG, out], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 55_000);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(readFileSync(out, 'utf8')) as RigResult);
      } catch {
        reject(new Error(`the rig (exit ${String(code)}) wrote no result:\n${stderr}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** What each case must come to: verified and answered, or unverified with this reason in the audit. */
const TABLE: Array<{ name: string; run: RigCaseResult['run']; verified: boolean; reason?: RegExp; senderAr?: boolean }> = [
  { name: 'genuine', run: 'mta', verified: true },
  { name: 'prepended-subject', run: 'mta', verified: false, reason: /2 Subject headers/ },
  { name: 'replay-to-a-friend', run: 'mta', verified: false, reason: /do not name us/ },
  { name: 'l-appended', run: 'mta', verified: false, reason: /only part of the body \(l=\)/ },
  // rspamd skips 127.0.0.1 (skip_local): the sender's own A-R with our id reaches the mailbox.
  { name: 'forged-ar-local-client', run: 'mta', verified: false, reason: /below our Received/, senderAr: true },
  { name: 'forged-ar-local-client-attacker-signed', run: 'mta', verified: false, reason: /dmarc=fail/, senderAr: true },
  // The README's header_checks rule drops it before it reaches the mailbox.
  { name: 'forged-ar-local-client-header-checks', run: 'mta', verified: false, reason: /dmarc=fail/, senderAr: false },
  { name: 'forged-ar-milter-down', run: 'mta', verified: false, reason: /dmarc=fail/, senderAr: true },
  // No A-R at all (milter down): the local check asks nsd through verification.dnsServers.
  { name: 'local-check-genuine', run: 'mta', verified: true },
  { name: 'local-check-wrong-key', run: 'mta', verified: false, reason: /^local check: dmarc=fail$/ },
  // rspamd's genuine A-R, with no DNS the local check can reach: the A-R alone does not verify (see below).
  { name: 'genuine', run: 'no-dns', verified: false, reason: /^local check: dmarc=temperror$/ },
  // inboundResultsRemoved on, no DNS: through the header_checks listener rspamd's A-R below our Received verifies alone.
  { name: 'genuine-header-checks', run: 'removed', verified: true },
  { name: 'forged-ar-local-client-unsigned-header-checks', run: 'removed', verified: false, reason: /^no Authentication-Results from our authserv-id$/, senderAr: false },
  { name: 'forged-ar-local-client-header-checks', run: 'removed', verified: false, reason: /^local check: dmarc=temperror$/, senderAr: false },
  { name: 'forged-ar-milter-down-header-checks', run: 'removed', verified: false, reason: /^local check: dmarc=temperror$/, senderAr: false },
  // The flag is a promise about the MTA: a forged header that came through the listener without the rule is believed.
  { name: 'forged-ar-local-client-attacker-signed', run: 'removed', verified: true, senderAr: true },
];

describe.skipIf(skip !== null)('a real MTA (Postfix + rspamd + nsd + Dovecot LMTP) in front of mailroom process', () => {
  let result: RigResult;
  const find = (name: string, run: RigCaseResult['run'] = 'mta') => result.cases.find((c) => c.name === name && c.run === run);

  beforeAll(async () => {
    result = await runRig();
    if (result.error) throw new Error(`the rig failed: ${result.error}`);
  }, 60_000);

  it.each(TABLE)('$name ($run): verified=$verified', ({ name, run, verified, reason, senderAr }) => {
    const c = find(name, run);
    expect(c, name).toBeDefined();
    if (!c) return;
    expect(c.verdict.verified, JSON.stringify(c.verdict)).toBe(verified);
    expect(c.sender).toBe(verified ? 'verified' : 'unverified');
    if (verified) {
      // The billing question is answered on its own, once, to the customer.
      expect(c.state).toBe('completed');
      expect(c.tools).toContain('send_reply');
      expect(c.replies).toEqual([[DANA]]);
    } else {
      expect(c.verdict.reason ?? '').toMatch(reason ?? /./);
      expect(c.state).toBe('escalated');
      expect(c.tools).not.toContain('send_reply');
      expect(c.replies).toEqual([]);
    }
    if (senderAr !== undefined) expect(c.senderArDelivered, c.topHeaders).toBe(senderAr);
  });

  it("rspamd writes its Authentication-Results directly below Postfix's own Received line, not above it", () => {
    const top = find('genuine')?.topHeaders ?? '';
    const fields = top.split(/\n(?![ \t])/);
    const hop = fields.findIndex((f) => /^Received:[^]*\bby mx\.acme\.example \(Postfix\) with ESMTP\b/.test(f));
    const ar = fields.findIndex((f) => f.startsWith(`Authentication-Results: ${OUR_MX};`));
    expect(hop, top).toBeGreaterThan(0);
    expect(ar, top).toBe(hop + 1);
    expect(fields[ar], top).toMatch(/dkim=pass header\.d=brightleaf\.example header\.s=s1 header\.b=/);
    expect(fields[ar], top).toMatch(/dmarc=pass \(policy=reject\) header\.from=brightleaf\.example/);
    // A sender's own A-R lands on the very same spot when rspamd does not scan.
    const forged = (find('forged-ar-local-client')?.topHeaders ?? '').split(/\n(?![ \t])/);
    const forgedHop = forged.findIndex((f) => /\bby mx\.acme\.example \(Postfix\) with ESMTP\b/.test(f));
    expect(forged[forgedHop + 1] ?? '').toMatch(new RegExp(`^Authentication-Results: ${OUR_MX.replace(/\./g, '\\.')}; dkim=pass`));
    // header_checks runs before the milter: rspamd's own header survives it, on the same spot.
    const checked = (find('genuine-header-checks', 'removed')?.topHeaders ?? '').split(/\n(?![ \t])/);
    const checkedHop = checked.findIndex((f) => /\bby mx\.acme\.example \(Postfix\) with ESMTP\b/.test(f));
    expect(checkedHop, checked.join('\n')).toBeGreaterThan(0);
    expect(checked[checkedHop + 1] ?? '', checked.join('\n')).toMatch(/^Authentication-Results: mx\.acme\.example;[^]*dmarc=pass \(policy=reject\)/);
  });

  it('stops every service it started, in well under a minute', () => {
    expect(result.leftovers).toEqual([]);
    expect(result.totalMs).toBeLessThan(50_000);
    // Nothing of the rig survives its namespace either.
    expect(result.dirs.length).toBeGreaterThan(0);
    const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    expect(ps.split('\n').filter((l) => result.dirs.some((d) => l.includes(d)))).toEqual([]);
  });
});

// Outside CI, a machine without root or one of the binaries shows why the rig did not run
// (the reason is the test's name); in CI `skip` is always null.
if (skip !== null) {
  describe('a real MTA in front of mailroom process', () => {
    it.skip(`skipped: ${skip}`, () => {});
  });
}
