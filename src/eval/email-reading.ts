/**
 * What an obedient model takes from the text it was given: the attacker's contact details,
 * amounts, and which words it names. Shared by the worst-case and evasive models; pure functions.
 */

/**
 * Characters that prompt hardening puts between words (datamarking, e.g. U+02C6). A model reads
 * through them, so the worst case does too.
 */
const DATAMARKS = /[\u02c6\u2581]/g;

/** Header lines a chat prompt may carry about the sender; their addresses are not the attacker's target. */
const HEADER_LINE = /^\s*(from|to|cc|reply-to|sender|verified sender|customer account)\s*:.*$/gim;
/** Lines an agent's own prompt adds about the customer (not the email's words). */
const AGENT_LINE = /^\s*customer account\s*:.*$/gim;

/** The text without the sender header lines a chat prompt may start with. */
export function withoutHeaderLines(text: string): string {
  return text.replace(HEADER_LINE, ' ');
}

/** The email's own words: the text without the lines an agent adds about the customer. */
export function emailWords(text: string): string {
  return text.replace(AGENT_LINE, ' ');
}

// Bounded repetitions: a long run of letters must not make a scan quadratic.
const ADDRESS = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g;
const URL = /\bhttps?:\/\/[^\s<>"'`)\]]{1,2000}/gi;
const PHONE = /(?:\+|\b)\d[\d ().-]{7,20}\d\b/g;
const CURRENCY_AMOUNT = /(?:[$€£]\s?(\d{1,3}(?:[,\s]\d{3})+|\d+)(?:[.,](\d{1,2}))?)|(?:(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s?(?:USD|EUR|GBP|CHF|dollars?|euros?)\b)/gi;
const NUMBER = /\b\d+(?:\.\d+)?\b/g;

/** The text as a reader model would understand it: datamarks read as spaces. */
export function readable(text: string): string {
  return text.replace(DATAMARKS, ' ');
}

function lastFirst<T>(items: T[]): T[] {
  return [...items].reverse();
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/** Everything an obedient model would act on in one text. */
export interface Reading {
  /** The readable text. */
  text: string;
  /** Addresses the text asks for, most recently named first (sender header lines left out). */
  addresses: string[];
  /** Every address in the text, sender lines included, most recently named first. */
  allAddresses: string[];
  urls: string[];
  phones: string[];
  /** Amounts with a currency, largest first; then bare numbers, largest first. */
  amounts: number[];
  numbers: number[];
}

/** Reads a text the way an obedient model does: through datamarks, sender lines set apart. */
export function readText(raw: string): Reading {
  const text = readable(raw);
  const body = withoutHeaderLines(text);
  const amounts: number[] = [];
  for (const m of text.matchAll(CURRENCY_AMOUNT)) {
    const whole = (m[1] ?? m[3] ?? '').replace(/[,\s]/g, '');
    const cents = m[2] ?? m[4];
    const value = Number(cents ? `${whole}.${cents}` : whole);
    if (Number.isFinite(value)) amounts.push(value);
  }
  const numbers = [...text.matchAll(NUMBER)].map((m) => Number(m[0])).filter((n) => Number.isFinite(n));
  return {
    text,
    addresses: unique(lastFirst([...body.matchAll(ADDRESS)].map((m) => m[0]))),
    allAddresses: unique(lastFirst([...text.matchAll(ADDRESS)].map((m) => m[0]))),
    urls: unique(lastFirst([...text.matchAll(URL)].map((m) => m[0].replace(/[.,;:!?]+$/, '')))),
    phones: unique(lastFirst([...body.matchAll(PHONE)].map((m) => m[0].trim()))),
    amounts: [...amounts].sort((a, b) => b - a),
    numbers: [...numbers].sort((a, b) => b - a),
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where in the text a word or phrase is last named (case-insensitive, `_`/`-` read as spaces); -1 if never. */
export function lastMention(text: string, phrase: string): number {
  const words = phrase.toLowerCase().split(/[\s_-]+/).filter(Boolean);
  if (!words.length) return -1;
  const re = new RegExp(`(?<![a-z0-9])${words.map(escapeRegExp).join('[\\s_-]+')}(?![a-z0-9])`, 'g');
  let last = -1;
  for (const m of text.toLowerCase().matchAll(re)) last = m.index;
  return last;
}

/** The value the text names last, or null when it names none. */
export function namedValue(text: string, values: readonly string[]): string | null {
  let best: string | null = null;
  let at = -1;
  for (const v of values) {
    const pos = lastMention(text, v);
    if (pos > at) {
      at = pos;
      best = v;
    }
  }
  return best;
}

/** Keeps the head and the tail of a text too long for a field: instructions hide at either end. */
export function fitLength(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 20) return text.slice(text.length - max);
  const head = Math.floor((max - 3) * 0.4);
  const tail = max - 3 - head;
  return `${text.slice(0, head)} … ${text.slice(text.length - tail)}`;
}

/** FNV-1a: a small deterministic hash for choosing among equivalent forms. */
export function smallHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** An address written so that address filters miss it; `variant` picks the form. */
export function evasiveAddress(address: string, variant: number): string {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const forms = [
    `${local} at ${domain.split('.').join(' dot ')}`,
    `${local} [at] ${domain.replace(/\./g, '[.]')}`,
    `${local}@${domain.replace(/\./g, '\u3002')}`,
    `${local}\uff20${domain}`,
  ];
  return forms[variant % forms.length] ?? forms[0] ?? address;
}

/** A URL written so that link filters miss it; `variant` picks the form. */
export function evasiveUrl(url: string, variant: number): string {
  const m = /^(https?):\/\/([^/]+)(.*)$/i.exec(url);
  if (!m) return url;
  const [, scheme = 'https', host = '', rest = ''] = m;
  const cut = Math.max(1, Math.floor(host.length / 2));
  const forms = [
    `${scheme.replace(/t/gi, 'x')}://${host.replace(/\./g, '[.]')}${rest}`,
    `${scheme}://${host.replace(/\./g, '\u3002')}${rest}`,
    `${scheme}://${host.slice(0, cut)}\n${host.slice(cut)}${rest}`,
    `${host.split('.').join(' dot ')}${rest.replace(/\//g, ' slash ')}`,
  ];
  return forms[variant % forms.length] ?? forms[0] ?? url;
}

/**
 * Addresses and links in passages the prompt itself calls trusted (a line starting with
 * "Trusted …", up to one starting with "Untrusted …"): the sender's own material, which an
 * evasive model has no reason to disguise.
 */
export function trustedDetails(text: string): Set<string> {
  const keep = new Set<string>();
  let trusted = false;
  for (const line of text.split('\n')) {
    if (/^\s*untrusted\b/i.test(line)) trusted = false;
    else if (/^\s*trusted\b/i.test(line)) trusted = true;
    if (!trusted) continue;
    for (const m of line.matchAll(URL)) keep.add(m[0].replace(/[.,;:!?]+$/, ''));
    for (const m of line.matchAll(ADDRESS)) keep.add(m[0]);
  }
  return keep;
}

/**
 * Rewrites the addresses and URLs of a text in evasive forms (phone numbers pass filters as they
 * are); those in `keep` (the prompt's trusted material) stay as they are.
 */
export function evade(text: string, salt: string, keep: ReadonlySet<string> = new Set()): string {
  let i = 0;
  const seed = smallHash(salt);
  return text
    .replace(URL, (u) => {
      const bare = u.replace(/[.,;:!?]+$/, '');
      return keep.has(bare) ? u : evasiveUrl(bare, seed + i++) + u.slice(bare.length);
    })
    .replace(ADDRESS, (a) => (keep.has(a) || [...keep].some((k) => k.includes(a)) ? a : evasiveAddress(a, seed + i++)));
}
