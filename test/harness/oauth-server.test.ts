import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectImap, startDovecot, type DovecotServer } from './dovecot.js';
import { startOAuthServer, type OAuthServer } from './oauth-server.js';

async function loginWithToken(dovecot: DovecotServer, accessToken: string): Promise<boolean> {
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, doSTARTTLS: false, auth: { user: dovecot.user, accessToken }, logger: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.logout();
    return true;
  } catch {
    client.close();
    return false;
  }
}

describe('the OAuth2 test server behind Dovecot', () => {
  let oauth: OAuthServer;
  let dovecot: DovecotServer;
  beforeAll(async () => {
    oauth = await startOAuthServer();
    dovecot = await startDovecot({ oauth2: { introspectionUrl: oauth.introspectionUrl } });
  });
  afterAll(async () => {
    await dovecot?.close();
    await oauth?.close();
  });

  it('Dovecot takes an active access token, refuses an expired one, and passwords still work', async () => {
    const refresh = oauth.issueRefreshToken(dovecot.user);
    const res = await fetch(oauth.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: oauth.clientId }) });
    const body = (await res.json()) as { access_token: string };
    expect(await loginWithToken(dovecot, body.access_token)).toBe(true);
    oauth.expireAccessTokens();
    expect(await loginWithToken(dovecot, body.access_token)).toBe(false);
    expect(oauth.counts.introspections).toBeGreaterThanOrEqual(2);
    const client = await connectImap(dovecot);
    await client.logout();
  });
});
