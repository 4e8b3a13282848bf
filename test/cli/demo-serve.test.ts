import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/queues/embedded-redis.js';
import { waitFor } from '../harness/mail.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

describe('mailroom demo --serve', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it("leaves the daemon, Bull Board and the report page running with the demo's parked plans, and prints the URLs and a login", async () => {
    const port = await freePort();
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'mailroom-demo-serve-'));
    child = spawn(process.execPath, [BIN, 'demo', '--serve'], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MAILROOM_HTTP_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    const login = await waitFor('the URL and login', async () => {
      const m = /Bull Board: (http:\/\/127\.0\.0\.1:\d+\/admin\/queues)\S*\s+\((\d+) plans wait[\s\S]*sign in as: (\S+)\s+password: (\S+)/.exec(stdout);
      return m ? { url: m[1] ?? '', pending: Number(m[2]), name: m[3] ?? '', password: m[4] ?? '' } : undefined;
    }, 120_000);
    expect(login.url).toBe(`http://127.0.0.1:${port}/admin/queues`);
    expect(login.pending).toBeGreaterThan(0);
    const auth = { authorization: `Basic ${Buffer.from(`${login.name}:${login.password}`).toString('base64')}` };
    const res = await fetch(`${login.url}/api/queues?activeQueue=approval&status=delayed`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: Array<{ name: string; counts: Record<string, number>; jobs: Array<{ name: string }> }> };
    const approval = body.queues.find((q) => q.name === 'approval');
    expect(approval?.counts.delayed).toBe(login.pending);
    expect(approval?.jobs.map((j) => j.name)).toContain('refund · acct_1006 · $49.00 · 2 effects');
    expect((await fetch(login.url)).status).toBe(401);
    // The report page of the demo's run, behind the same login.
    const report = /Report: +(http:\/\/127\.0\.0\.1:\d+\/admin\/report)\s/.exec(stdout)?.[1];
    expect(report).toBe(`http://127.0.0.1:${port}/admin/report`);
    expect((await fetch(report ?? '')).status).toBe(401);
    const page = await fetch(report ?? '', { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/data-key="emails" data-value="50"/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 180_000);
});
