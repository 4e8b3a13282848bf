/**
 * The output check of every message Mailroom sends on its own: defence in depth behind the rule
 * that such a message is composed from trusted material only. It finds whatever a reader of the
 * message could use to reach someone — links, addresses, phone numbers, URIs of any scheme — also
 * when written to slip past a filter: defanged (`hxxps://evil[.]example`, `evil(dot)example`),
 * spaced out, with look-alike dots (`evil。example`), as "name at domain dot tld", with IDN or
 * bare-IP hosts, or split over lines. Each finding its trusted inputs do not name parks the message.
 */

/** Format characters (zero-width space, joiners, soft hyphen, bidi marks): invisible, so dropped. */
const INVISIBLE = /\p{Cf}/gu;
/**
 * Any punctuation outside ASCII between two letters or digits reads as a separator to a human
 * (`。`, `．`, `｡`, `․`, `·`, `・`, …): it is treated as a dot. Admitting ASCII punctuation and
 * treating the rest as a dot avoids a list of look-alikes that would never be complete.
 */
const FOREIGN_SEPARATOR = /(?<=[\p{L}\p{N}])(?!\p{ASCII})[\p{Po}\p{S}](?=[\p{L}\p{N}])/gu;
/** Defanged dots and ats: `[.]`, `(.)`, `{dot}`, `[dot]`, ` dot `, `(at)`, `[@]`, ` at `. */
const FENCED_DOT = /\s*[[({<]\s*(?:\.|dot|punkt|point)\s*[\])}>]\s*/giu;
const FENCED_AT = /\s*[[({<]\s*(?:@|at)\s*[\])}>]\s*/giu;
const WORD_DOT = /(?<=[\p{L}\p{N}])\s+(?:dot|punkt|point)\s+(?=[\p{L}\p{N}])/giu;
const WORD_AT = /(?<=[\p{L}\p{N}._%+-])\s+(?:at|chez|bei)\s+(?=[\p{L}\p{N}][\p{L}\p{N}-]*\s*\.\s*[\p{L}\p{N}])/giu;
const SPACED_DOT = /(?<=[\p{L}\p{N}])\s+\.\s+(?=[\p{L}\p{N}])/gu;
const SPACED_AT = /(?<=[\p{L}\p{N}._%+-])\s*@\s*(?=[\p{L}\p{N}])/gu;
/** `hxxp`, `hXXps`, `h**p`: a scheme with its letters masked. */
const MASKED_SCHEME = /\bh(?!tt)[a-z*]{2}p(s?)(?:\[:\]|:)/gi;

/** Letters spaced out one by one (`e v i l . e x a m p l e`) are joined again. */
const SPACED_LETTERS = /(?:(?<![\p{L}\p{N}])[\p{L}\p{N}./:@-] ){4,}[\p{L}\p{N}./:@-](?![\p{L}\p{N}])/gu;

/** The text a human would read, with the usual disguises undone. */
export function normaliseForLinks(text: string): string {
  return text
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(FOREIGN_SEPARATOR, '.')
    .replace(MASKED_SCHEME, (_m, s: string) => `http${s}:`)
    // Before the dots are closed up, which would break the run of single letters.
    .replace(SPACED_LETTERS, (m) => m.replace(/ /g, ''))
    .replace(FENCED_DOT, '.')
    .replace(FENCED_AT, '@')
    .replace(WORD_DOT, '.')
    .replace(SPACED_DOT, '.')
    .replace(WORD_AT, '@')
    .replace(SPACED_AT, '@');
}

/** Any `scheme:` that a mail client may turn into an action: http, tel, sms, data, javascript, … */
const SCHEME_URI = /(?<![\p{L}\p{N}+.-])[a-z][a-z0-9+.-]{0,30}:(?=[^\s])[^\s<>"')\]]*/giu;
const ADDRESS = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.[\p{L}]{2,}/gu;
/** A host name under any TLD, ASCII, punycode or not, with an optional path. */
const BARE_HOST = /(?<![\p{L}\p{N}@-])(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+(?:[\p{L}]{2,24}|xn--[a-z0-9-]{2,59})(?![\p{L}\p{N}-])(?:[/:?#][^\s<>"')\]]*)?/gu;
const IPV4 = /(?<![\p{N}.])\d{1,3}(?:\.\d{1,3}){3}(?![\p{N}])(?:[/:][^\s<>"')\]]*)?/gu;
const IPV6 = /\[[0-9a-f:]{2,39}\]/gi;
/** Seven or more digits joined by the separators phone numbers are written with. */
const PHONE = /(?<![\p{N}])\+?\(?\p{N}[\p{N}\s().\-/]{5,}\p{N}(?![\p{N}])/gu;

const trimTail = (s: string) => s.replace(/[.,;:!?]+$/, '');

/** URLs (any scheme, bare hosts, IP hosts), e-mail addresses and phone numbers in one view of a text. */
function findIn(view: string): { urls: string[]; addresses: string[]; phones: string[] } {
  const urls = [...view.matchAll(SCHEME_URI)].map((m) => trimTail(m[0]));
  let rest = view.replace(SCHEME_URI, ' ');
  const addresses = [...rest.matchAll(ADDRESS)].map((m) => trimTail(m[0]).toLowerCase());
  rest = rest.replace(ADDRESS, ' ');
  const ips = [...rest.matchAll(IPV4), ...rest.matchAll(IPV6)].map((m) => trimTail(m[0]));
  rest = rest.replace(IPV4, ' ').replace(IPV6, ' ');
  const hosts = [...rest.matchAll(BARE_HOST)].map((m) => trimTail(m[0])).filter((h) => !/^\p{N}+(?:\.\p{N}+)*$/u.test(h));
  rest = rest.replace(BARE_HOST, ' ');
  const phones = [...rest.matchAll(PHONE)]
    .map((m) => m[0].trim())
    .filter((p) => (p.match(/\p{N}/gu)?.length ?? 0) >= 7);
  return { urls: [...urls, ...ips, ...hosts], addresses, phones };
}

/**
 * The views a text is read in: as written, with disguises undone, and with a line break closed up
 * where a link was split at a separator (`evil.` / `example`), so each disguise is seen in at least
 * one of them. A sentence's full stop before a capital is not a split.
 */
function views(text: string): string[] {
  const normal = normaliseForLinks(text);
  const glued = normal
    .replace(/([/@:-])[ \t]*\r?\n[ \t]*(?=\S)/g, '$1')
    .replace(/\.[ \t]*\r?\n[ \t]*(?=[\p{Ll}\p{N}])/gu, '.')
    .replace(/(?<=\S)[ \t]*\r?\n[ \t]*(?=[./@])/g, '');
  return [...new Set([text, normal, glued])];
}

/** URLs, e-mail addresses and phone numbers named in a text, however they are disguised. */
export function linksIn(text: string): { urls: string[]; addresses: string[]; phones: string[] } {
  const urls = new Set<string>();
  const addresses = new Set<string>();
  const phones = new Set<string>();
  for (const view of views(text)) {
    const found = findIn(view);
    found.urls.forEach((u) => urls.add(u));
    found.addresses.forEach((a) => addresses.add(a));
    found.phones.forEach((p) => phones.add(p));
  }
  return { urls: [...urls], addresses: [...addresses], phones: [...phones] };
}

/** What a message's trusted inputs name: exact URLs, URL prefixes, addresses, and trusted texts. */
export interface AllowedLinks {
  urls: readonly string[];
  urlPrefixes: readonly string[];
  addresses: readonly string[];
  /**
   * Trusted material the message quotes (a KB article, account data, an endorsed order): whatever
   * the check finds in it (its own phone number, its dates) is named by a trusted input.
   */
  trustedTexts?: readonly string[];
}

const bareUrl = (u: string) => u.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/$/, '').toLowerCase();
const digits = (p: string) => p.replace(/\D/g, '');

/**
 * The links, addresses and phone numbers of an outgoing message that its trusted inputs do not
 * name. A non-empty answer parks the message for a human: an injection must not turn our mail
 * into the attacker's.
 */
export function disallowedLinks(text: string, allowed: AllowedLinks): string[] {
  const found = linksIn(text);
  const trusted = linksIn((allowed.trustedTexts ?? []).join('\n'));
  const trustedUrls = new Set(trusted.urls.map(bareUrl));
  const trustedAddresses = new Set(trusted.addresses);
  const trustedPhones = trusted.phones.map(digits);
  const okUrl = (u: string) => {
    const bare = bareUrl(u);
    return (
      trustedUrls.has(bare) ||
      allowed.urls.some((a) => bareUrl(a) === bare) ||
      allowed.urlPrefixes.some((p) => u.toLowerCase().startsWith(p.toLowerCase()))
    );
  };
  const okAddress = (a: string) => trustedAddresses.has(a) || allowed.addresses.some((x) => x !== '' && x.toLowerCase() === a);
  // Numbers run together differently in another sentence; a run of digits a trusted text holds is named by it.
  const okPhone = (p: string) => trustedPhones.some((t) => t.includes(digits(p)));
  return [
    ...new Set([...found.urls.filter((u) => !okUrl(u)), ...found.addresses.filter((a) => !okAddress(a)), ...found.phones.filter((p) => !okPhone(p))]),
  ];
}
