import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canaryFor, loadCorpus, parseCorpus, Placement } from '../../src/eval/corpus.js';
import { MailroomError } from '../../src/kernel/errors.js';

const CORPUS = path.resolve(import.meta.dirname, '../../eval/corpus.json');

describe('the eval corpus', () => {
  const corpus = loadCorpus(CORPUS);

  it('has at least 150 payloads in every placement', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(150);
    for (const p of Placement.options) expect(corpus.some((i) => i.placement === p)).toBe(true);
  });

  it('covers the attacker goals and techniques the issue names', () => {
    const goals = new Set(corpus.map((i) => i.attacker_goal_kind));
    for (const g of ['exfiltrate', 'send_to_attacker', 'phishing_link', 'destructive', 'refund_money', 'change_routing', 'escalate_privilege', 'spam_reply', 'deny_service']) {
      expect(goals).toContain(g);
    }
    const techniques = new Set(corpus.map((i) => i.technique ?? ''));
    for (const t of ['direct', 'fake_system', 'fake_tool_output', 'role_play', 'base64', 'homoglyph', 'zero_width', 'tag_characters', 'hidden_html', 'quoted_reply_chain', 'attachment_name', 'display_name', 'sender_metadata']) {
      expect(techniques).toContain(t);
    }
    expect([...techniques].some((t) => t.startsWith('multilingual_'))).toBe(true);
    // Bytes the harness must still deliver: megabytes, control characters.
    expect(corpus.some((i) => i.payload.length > 1_000_000)).toBe(true);
    expect(corpus.some((i) => i.payload.includes('\u0000') && i.payload.includes('\r'))).toBe(true);
  });
});

describe('loading a corpus', () => {
  it('ignores unknown fields and defaults the placement to body', () => {
    const [item] = parseCorpus([{ id: 'x', payload: 'p', severity: 'high', source: 'bipia' }]);
    expect(item).toEqual({ id: 'x', payload: 'p', placement: 'body' });
  });

  it('refuses duplicate ids, unknown placements and non-arrays with a named error', () => {
    for (const bad of [[{ id: 'a', payload: '' }, { id: 'a', payload: '' }], [{ id: 'a', payload: '', placement: 'footer' }], { id: 'a' }, []]) {
      expect(() => parseCorpus(bad)).toThrow(MailroomError);
    }
  });

  it('names a missing file and a file that is not JSON', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-corpus-'));
    writeFileSync(path.join(dir, 'bad.json'), '[{');
    expect(() => loadCorpus(path.join(dir, 'none.json'))).toThrow(expect.objectContaining({ code: 'INPUT_NOT_FOUND' }));
    expect(() => loadCorpus(path.join(dir, 'bad.json'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('gives each item its own canary made of lowercase letters and digits', () => {
    expect(canaryFor('a')).toMatch(/^[a-z0-9]{16}$/);
    expect(canaryFor('a')).not.toBe(canaryFor('b'));
  });
});
