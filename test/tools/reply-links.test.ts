import { describe, expect, it } from 'vitest';
import { disallowedLinks, linksIn } from '../../src/tools/reply-links.js';

const ALLOWED = {
  urls: ['https://acme.example/reset-password'],
  urlPrefixes: ['https://status.acme.example/'],
  addresses: ['support@acme.example'],
};

describe('linksIn', () => {
  it('finds http(s) and ftp URLs and strips trailing punctuation', () => {
    expect(linksIn('Go to https://acme.example/reset-password. Then log in!').urls).toEqual([
      'https://acme.example/reset-password',
    ]);
    expect(linksIn('See https://a.example/x, http://b.example/y; ftp://c.example/z?! ok').urls).toEqual([
      'https://a.example/x',
      'http://b.example/y',
      'ftp://c.example/z',
    ]);
    expect(linksIn('visit https://evil.example/a?b=c, then').urls).toEqual(['https://evil.example/a?b=c']);
  });

  it('stops a URL at brackets, quotes and angle brackets', () => {
    expect(linksIn('(https://x.example/a)').urls).toEqual(['https://x.example/a']);
    expect(linksIn('[link](https://y.example/b)').urls).toEqual(['https://y.example/b']);
    expect(linksIn('<https://z.example/c>').urls).toEqual(['https://z.example/c']);
    expect(linksIn('"https://q.example/d"').urls).toEqual(['https://q.example/d']);
  });

  it('finds a scheme in any case', () => {
    expect(linksIn('HTTPS://Evil.Example/Reset').urls).toEqual(['HTTPS://Evil.Example/Reset']);
  });

  it('finds bare domains such as evil.example/reset', () => {
    expect(linksIn('reset it at evil.example/reset now').urls).toEqual(['evil.example/reset']);
    expect(linksIn('or www.evil.io').urls).toEqual(['www.evil.io']);
    expect(linksIn('login.acme-support.com').urls).toEqual(['login.acme-support.com']);
  });

  it('does not mistake ordinary prose for a domain', () => {
    expect(linksIn('e.g. this, i.e. that. Version 4.2.0 is out.').urls).toEqual([]);
  });

  it('finds addresses, lowercased, and does not report their domain as a link', () => {
    expect(linksIn('mail BILLING@Evil.Example! or support@acme.example.')).toEqual({
      urls: [],
      addresses: ['billing@evil.example', 'support@acme.example'],
    });
  });

  it('reports each link once', () => {
    expect(linksIn('https://a.example/x and https://a.example/x. a@b.example a@b.example')).toEqual({
      urls: ['https://a.example/x'],
      addresses: ['a@b.example'],
    });
  });

  // Regression (fixed): trailing punctuation is stripped from URLs with a scheme but not from bare domains with
  // a path, so "Go to acme.example/reset-password." yields "acme.example/reset-password." which no
  // longer equals the allowed link: a correct reply is parked (see the disallowedLinks test below).
  it('strips trailing punctuation from bare domains with a path too', () => {
    expect(linksIn('Go to evil.example/reset.').urls).toEqual(['evil.example/reset']);
  });

  // Regression (fixed): bare domains are only recognised for a fixed list of TLDs, so a drafted reply that says
  // "reset it at acme-login.de/reset" (or .me, .uk, .tk, ...) is not parked although most mail
  // clients turn it into a link.
  it('finds bare domains under any TLD', () => {
    expect(linksIn('reset it at acme-login.de/reset').urls).toEqual(['acme-login.de/reset']);
  });
});

describe('disallowedLinks', () => {
  it('allows nothing-but-text and the allowed links', () => {
    expect(disallowedLinks('Thanks, we will look into it.', ALLOWED)).toEqual([]);
    expect(disallowedLinks('Reset at https://acme.example/reset-password.', ALLOWED)).toEqual([]);
    expect(disallowedLinks('Status: https://status.acme.example/incidents/42', ALLOWED)).toEqual([]);
    expect(disallowedLinks('Write to Support@Acme.Example', ALLOWED)).toEqual([]);
  });

  it('compares exact URLs without scheme, case or a trailing slash', () => {
    expect(disallowedLinks('https://ACME.example/reset-password/', ALLOWED)).toEqual([]);
  });

  it('allows a bare mention of an allowed URL', () => {
    expect(disallowedLinks('Go to acme.example/reset-password to continue', ALLOWED)).toEqual([]);
  });

  // Regression (fixed): see linksIn above: the trailing full stop stays on the bare link, so the allowed link is
  // reported and a correct reply is parked for a human.
  it('allows a bare mention of an allowed URL at the end of a sentence', () => {
    expect(disallowedLinks('Go to acme.example/reset-password.', ALLOWED)).toEqual([]);
  });

  it('an exact URL allows only itself, not longer paths', () => {
    expect(disallowedLinks('https://acme.example/reset-password/../evil', ALLOWED)).toEqual([
      'https://acme.example/reset-password/../evil',
    ]);
    expect(disallowedLinks('https://acme.example/reset-password-now', ALLOWED)).toEqual([
      'https://acme.example/reset-password-now',
    ]);
  });

  it('a prefix does not extend to look-alike hosts', () => {
    expect(disallowedLinks('https://status.acme.example.evil.example/x', ALLOWED)).toEqual([
      'https://status.acme.example.evil.example/x',
    ]);
    expect(disallowedLinks('https://status.acme.example@evil.example/', ALLOWED)).toEqual([
      'https://status.acme.example@evil.example/',
    ]);
  });

  it('reports other URLs, bare domains and addresses', () => {
    const draft =
      'Hello, reset your password at https://evil.example/reset or evil.example/reset2 and send invoices to billing@evil.example. ' +
      'Our page https://acme.example/reset-password still works.';
    expect(disallowedLinks(draft, ALLOWED).sort()).toEqual(
      ['billing@evil.example', 'evil.example/reset2', 'https://evil.example/reset'].sort(),
    );
  });

  it('with nothing allowed, every link and address is reported', () => {
    expect(
      disallowedLinks('https://acme.example/ and support@acme.example', {
        urls: [],
        urlPrefixes: [],
        addresses: [],
      }),
    ).toEqual(['https://acme.example/', 'support@acme.example']);
  });

  it('an empty allowed address (unverified sender) allows no address', () => {
    expect(disallowedLinks('reply to a@b.example', { urls: [], urlPrefixes: [], addresses: [''] })).toEqual([
      'a@b.example',
    ]);
  });
});
