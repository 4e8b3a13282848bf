import { describe, expect, it } from 'vitest';
import { TargetFolder } from '../../src/tools/move-message.js';

describe('move_message never moves to the trash (deletion waits for a human, whatever autonomy says)', () => {
  it('refuses the trash under either hierarchy separator (INBOX.Trash, Dovecot Maildir++, used to pass)', () => {
    for (const f of ['Trash', 'INBOX/Trash', 'INBOX.Trash', 'INBOX.Deleted Items', 'Deleted Messages', 'INBOX.bin', 'Trash.']) {
      expect(TargetFolder.safeParse(f).success, f).toBe(false);
    }
  });
  it('still takes ordinary folders, dots included', () => {
    for (const f of ['Archive', 'INBOX.Archive', 'Receipts.2026', 'Support/Done']) expect(TargetFolder.safeParse(f).success, f).toBe(true);
  });
});
