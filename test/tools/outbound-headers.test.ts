import { describe, expect, it } from 'vitest';
import { copyableHeader } from '../../src/tools/outbound-headers.js';

describe('copyableHeader: the one gate for header values copied from an email', () => {
  it('admits RFC 5322 msg-ids as they are', () => {
    for (const id of ['<a.b@c.example>', "<x!#$%&'*+/=?^_`{|}~-1@mail.c.example>", '<abc@[192.0.2.1]>']) {
      expect(copyableHeader('msg-id', id), id).toBe(id);
    }
  });

  it('refuses a msg-id with any character RFC 5322 does not allow there (before: NEL, SOH, DEL and C1 passed)', () => {
    const bad = ['\u0085', '\x01', '\x00', '\x7f', '\x0b', '\r', '\n', '\r\nBcc: x@evil.example', '\u2028', '\u2029', '\u009b', ' ', '\t', '"', '<', '\u00e9', '\u202e', '\ufeff'];
    for (const ch of bad) {
      expect(copyableHeader('msg-id', `<a${ch}b@c.example>`), JSON.stringify(ch)).toBeNull();
      expect(copyableHeader('msg-id', `<ab@c${ch}.example>`), JSON.stringify(ch)).toBeNull();
    }
    for (const id of ['<abc>', 'abc@c.example', '<@c.example>', '<a@>', `<${'a'.repeat(900)}@c.example>`]) {
      expect(copyableHeader('msg-id', id), id).toBeNull();
    }
  });

  it('admits unstructured text in any script but no control or format character', () => {
    for (const ok of ['Re: your message', 'Réponse ✓ 你好 — ok', 'a\u00a0b']) expect(copyableHeader('unstructured', ok), ok).toBe(ok);
    for (const ch of ['\u0085', '\x01', '\x7f', '\t', '\r', '\n', '\u2028', '\u2029', '\u202e', '\u200b', '\ue000']) {
      expect(copyableHeader('unstructured', `a${ch}b`), JSON.stringify(ch)).toBeNull();
    }
    expect(copyableHeader('unstructured', '')).toBeNull();
  });
});
