import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyExplanation } from '../../src/cli/policy-command.js';
import { runMailroom } from '../harness/cli.js';


const mailroom = (args: string[], env: NodeJS.ProcessEnv = {}) => runMailroom(args, env);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-policy-'));
function configFile(name: string, autonomy: unknown): string {
  const file = path.join(tmp, name);
  writeFileSync(file, JSON.stringify({ categories: ['billing', 'refund', 'bug'], autonomy }));
  return file;
}

const STEADY = configFile('steady.json', {
  rules: [
    { name: 'bug replies', tool: 'send_reply', category: 'bug', source: 'route', level: 'review' },
    { name: 'small refunds', tool: 'issue_refund', tier: ['pro', 'enterprise'], maxAmount: 20, level: 'auto' },
    { name: 'no account changes', tool: 'update_account', level: 'never' },
  ],
});

describe('mailroom policy explain', () => {
  it('--help names every option', async () => {
    const res = await mailroom(['policy', 'explain', '--help']);
    expect(res.code).toBe(0);
    for (const opt of ['--category', '--source', '--tier', '--verified', '--robot', '--amount', '--json']) expect(res.stdout).toContain(opt);
  });

  it('prints each tool with its level and why: the rule, the default, or the limit that overrode it', async () => {
    const res = await mailroom(['-c', STEADY, 'policy', 'explain', '--category', 'bug', '--source', 'route', '--tier', 'pro', '--amount', '50']);
    expect(res.code).toBe(0);
    const line = (tool: string) => res.stdout.split('\n').find((l) => l.startsWith(`${tool} `)) ?? '';
    expect(line('send_reply')).toMatch(/review\s+rules\[0\] "bug replies"/);
    expect(line('issue_refund')).toMatch(/review\s+rules\[1\] "small refunds" chose auto; limit: issue_refund of 50 is above the ceiling of 20/);
    expect(line('update_account')).toMatch(/never\s+rules\[2\] "no account changes"/);
    expect(line('send_email')).toMatch(/review\s+the default .*never auto: send_email reaches someone other than the verified sender/);
    expect(line('apply_label')).toMatch(/auto\s+the default/);
    expect(res.stdout).toMatch(/always run \(they only read\): .*search_kb/);
  });

  it('--json: a classifier-chosen category is as strict as the safest; an unverified sender never gets an automatic reply', async () => {
    const res = await mailroom(['-c', STEADY, 'policy', 'explain', '--category', 'billing', '--tier', 'pro', '--amount', '10', '--json']);
    const out = PolicyExplanation.parse(JSON.parse(res.stdout));
    const of = (tool: string) => out.tools.find((t) => t.tool === tool);
    // The bug rule is keyed on the routed category only: classifier mail is not held by it.
    expect(of('send_reply')).toMatchObject({ level: 'auto', why: 'the default' });
    expect(of('issue_refund')).toMatchObject({ level: 'auto', why: expect.stringMatching(/runs alone up to 20/) });
    // Keyed on the category wherever it comes from: the classifier could say "bug", so billing is held as bug is.
    const keyed = configFile('keyed.json', { rules: [{ name: 'bug replies', tool: 'send_reply', category: 'bug', level: 'review' }] });
    const held = PolicyExplanation.parse(JSON.parse((await mailroom(['-c', keyed, 'policy', 'explain', '--category', 'billing', '--json'])).stdout));
    expect(held.tools.find((t) => t.tool === 'send_reply')).toMatchObject({ level: 'review', why: expect.stringMatching(/as strict as for "bug" \(rules\[0\] "bug replies": review\)/) });
    const routed = PolicyExplanation.parse(JSON.parse((await mailroom(['-c', keyed, 'policy', 'explain', '--category', 'billing', '--source', 'route', '--json'])).stdout));
    expect(routed.tools.find((t) => t.tool === 'send_reply')).toMatchObject({ level: 'auto' });
    const unverified = PolicyExplanation.parse(JSON.parse((await mailroom(['-c', STEADY, 'policy', 'explain', '--category', 'billing', '--source', 'route', '--verified', 'unverified', '--json'])).stdout));
    expect(unverified.tools.find((t) => t.tool === 'send_reply')).toMatchObject({ level: 'review', why: expect.stringMatching(/unverified sender/) });
  });

  it('names the refund tool\'s own cap when a rule\'s ceiling is above it (it refuses above refunds.maxAmount whatever a rule says)', async () => {
    const generous = configFile('generous.json', { rules: [{ name: 'big refunds', tool: 'issue_refund', maxAmount: 5000, level: 'auto' }] });
    const res = await mailroom(['-c', generous, 'policy', 'explain', '--category', 'refund', '--source', 'route', '--tier', 'pro']);
    expect(res.code, res.stderr).toBe(0);
    const line = res.stdout.split('\n').find((l) => l.startsWith('issue_refund ')) ?? '';
    expect(line).toContain('runs alone up to 100 (refunds.maxAmount');
    expect(line).toContain('the rule says 5000');
  });

  it('refuses a config that tries to lift a limit, in one line naming the rule, here and when processing mail', async () => {
    const bad = configFile('bad.json', { rules: [{ name: 'strangers welcome', tool: 'send_reply', verified: 'unverified', level: 'auto' }] });
    for (const args of [['policy', 'explain', '--category', 'billing'], ['process', tmp]]) {
      const res = await mailroom(['-c', bad, ...args], { MAILROOM_DATA_DIR: path.join(tmp, 'data') });
      expect(res.code).not.toBe(0);
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mailroom: configuration: autonomy\.rules\.0 \("strangers welcome"\): .*unverified sender \[MAILROOM_CONFIG_INVALID\]$/);
    }
  });

  it('refuses an unknown category with the configured ones listed', async () => {
    const res = await mailroom(['-c', STEADY, 'policy', 'explain', '--category', 'lottery']);
    expect(res.stderr).toMatch(/--category "lottery" is not one of the configured categories \(billing, refund, bug, unknown\)/);
  });
});
