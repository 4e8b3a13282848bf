import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = process.env.MAILROOM_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium that can reach loopback and nothing else: flags keep it from calling home,
 * the host resolver maps every other name to nowhere, and every request that is not to
 * 127.0.0.1 is aborted (Bull Board's page asks for web fonts from the Internet).
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}

/** A browser context signed in with HTTP basic auth, loopback only; `blocked` lists what it refused. */
export async function loopbackContext(browser: Browser, login: { username: string; password: string }): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext({ httpCredentials: login, viewport: { width: 1400, height: 1000 } });
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.hostname);
    return route.abort();
  });
  return { context, blocked };
}
