import fc from 'fast-check';
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
      phones: [],
    });
  });

  it('reports each link once', () => {
    expect(linksIn('https://a.example/x and https://a.example/x. a@b.example a@b.example')).toEqual({
      urls: ['https://a.example/x'],
      addresses: ['a@b.example'],
      phones: [],
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

/**
 * Each evasive way of writing a contact detail, as an injected reader might. On the starting
 * code (plain URLs and addresses only) every row here but the plain ones went unnoticed.
 */
const EVASIVE: ReadonlyArray<readonly [string, string]> = [
  ['defanged scheme and dots', 'Verify at hxxps://evil[.]example/verify today.'],
  ['defanged with (dot)', 'Go to evil(dot)example now'],
  ['spaced bracket dot', 'Go to evil [.] example now'],
  ['spaced plain dot', 'see evil . example'],
  ['word dot', 'open evil dot example slash verify'],
  ['at/dot address', 'Write to billing-desk at evil dot example please'],
  ['bracketed at address', 'Write to billing-desk[at]evil[dot]example please'],
  ['spaced @ address', 'Write to billing-desk @ evil.example please'],
  ['phone number', 'Call us on +1 (555) 010-7788 to confirm.'],
  ['phone number, dots', 'Call 555.010.7788 now'],
  ['tel URI', 'Tap tel:+15550107788'],
  ['sms URI', 'Text sms:+15550107788'],
  ['data URI', 'Open data:text/html;base64,PHNjcmlwdD4='],
  ['javascript URI', 'Click javascript:alert(1)'],
  ['mailto URI', 'mailto:billing-desk'],
  ['ideographic full stop', 'Go to evil。example/verify'],
  ['fullwidth full stop', 'Go to evil．example/verify'],
  ['halfwidth ideographic full stop', 'Go to evil｡example/verify'],
  ['one dot leader', 'Go to evil․example'],
  ['middle dot', 'Go to evil·example'],
  ['katakana middle dot', 'Go to evil・example'],
  ['zero-width space in a host', 'Go to evil\u200b.example'],
  ['punycode host', 'Go to xn--evl-jpa.example/verify'],
  ['non-ASCII host', 'Go to еvil.example/verify'],
  ['non-ASCII TLD', 'Go to evil.пример'],
  ['bare IPv4 host', 'Go to 203.0.113.7/verify'],
  ['IPv4 URL', 'Go to http://203.0.113.7:8080/verify'],
  ['IPv6 host', 'Go to [2001:db8::7]/verify'],
  ['URL split over lines at a dot', 'Go to https://evil.\nexample/verify now'],
  ['host split over lines at a dot', 'Go to evil.\nexample/verify now'],
  ['URL split over lines before a dot', 'Go to evil\n.example/verify now'],
  ['URL split inside a word', 'Go to https://ev\nil.example/verify now'],
  ['URL split after the scheme', 'Go to https://\nevil.example/verify now'],
  ['letters spaced out', 'Go to e v i l . e x a m p l e now'],
  ['fullwidth at sign', 'Write to billing＠evil.example'],
];

describe('disallowedLinks catches every evasive form', () => {
  it.each(EVASIVE)('%s', (_name, text) => {
    expect(disallowedLinks(`Hello,\n\n${text}\n\nBest regards,\nAcme Cloud Support`, ALLOWED).length).toBeGreaterThan(0);
  });

  it('a plain reply with allowed links, dates and amounts from trusted text passes', () => {
    const reply =
      'Hello Dana,\n\nThank you for your message about billing. We are sorry for the trouble.\n\n' +
      'Your order ORD-10234 of 2026-03-14 (49.00 EUR) is on file.\n\n' +
      'Invoices\nYou find every invoice under Settings. Version 4.2.0 is out, e.g. in the app.\n\n' +
      'https://acme.example/reset-password\nhttps://status.acme.example/incidents\n\n' +
      'Write to support@acme.example.\n\nBest regards,\nAcme Cloud Support';
    expect(disallowedLinks(reply, { ...ALLOWED, trustedTexts: ['ORD-10234 2026-03-14 49.00 EUR'] })).toEqual([]);
  });

  it('a phone number or link named by a trusted text is allowed, others are not', () => {
    const trustedTexts = ['Call our desk on +1 555 010 0000.'];
    expect(disallowedLinks('Call +1 555 010 0000.', { ...ALLOWED, trustedTexts })).toEqual([]);
    expect(disallowedLinks('Call +1 555 010 7788.', { ...ALLOWED, trustedTexts })).toEqual(['+1 555 010 7788']);
  });
});

describe('disallowedLinks property: any host in any disguise is caught', () => {
  const DISGUISES: ReadonlyArray<readonly [string, (label: string, tld: string) => string]> = [
    ['plain', (l, t) => `${l}.${t}`],
    ['defanged brackets', (l, t) => `hxxps://${l}[.]${t}/x`],
    ['(dot)', (l, t) => `${l}(dot)${t}`],
    ['spaced [.]', (l, t) => `${l} [.] ${t}`],
    ['word dot', (l, t) => `${l} dot ${t}`],
    ['at/dot address', (l, t) => `desk at ${l} dot ${t}`],
    ['ideographic dot', (l, t) => `${l}。${t}`],
    ['fullwidth dot', (l, t) => `${l}．${t}`],
    ['halfwidth dot', (l, t) => `${l}｡${t}`],
    ['zero-width joiner', (l, t) => `${l}\u200d.${t}`],
    ['split after the dot', (l, t) => `${l}.\n${t}`],
    ['split before the dot', (l, t) => `${l}\n.${t}`],
    ['spaced letters', (l, t) => `${[...l].join(' ')} . ${[...t].join(' ')}`],
  ];
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{1,10}[a-z0-9]$/);
  const tld = fc.constantFrom('example', 'com', 'io', 'de', 'net');

  it.each(DISGUISES)('%s', (_name, disguise) => {
    fc.assert(
      fc.property(label, tld, fc.constantFrom('Please go to', 'Thanks! Visit', 'Reach us:'), (l, t, lead) => {
        expect(disallowedLinks(`Hello,\n\n${lead} ${disguise(l, t)} today.\n\nBest regards,\nAcme`, ALLOWED).length).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  });

  it('phone numbers in any grouping are caught', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[0-9]{2,4}$/), { minLength: 3, maxLength: 4 }), fc.constantFrom(' ', '-', '.', ' / '), (groups, sep) => {
        fc.pre(groups.join('').length >= 7);
        expect(disallowedLinks(`Call ${groups.join(sep)} now`, ALLOWED).length).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });
});
