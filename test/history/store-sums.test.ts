import { describe, expect, it } from 'vitest';
import { sumFacts } from '../../src/history/store-sums.js';

describe('sumFacts (the SQL sums back into report rows)', () => {
  it('reads autonomy keys with the unit separator PostgreSQL can hold, and the NUL older SQLite files have', () => {
    const group = { mailbox: 'help@example.com', category: 'billing' };
    const counts = [
      { ...group, kind: 'autonomy', key: 'send_reply\u001fauto', n: 2, m: 1 },
      { ...group, kind: 'autonomy', key: 'send_reply\u0000auto', n: 3, m: 3 },
    ];
    expect(sumFacts([group], counts, []).autonomy).toEqual([{ tool: 'send_reply', category: 'billing', level: 'auto', decided: 5, ran: 4 }]);
  });
});
