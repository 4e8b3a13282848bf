import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { MailroomError } from '../kernel/errors.js';
import { EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import { wouldDoEffects } from '../audit/trail-reading.js';
import { caseHistory, formatCaseHistory } from '../run/case-history.js';

/**
 * `mailroom audit <emailId>`: the email's trail, one event a line; with `--json` one JSON
 * document `{ emailId, record, events }` (the ledger record, then the events in order), so a
 * script can pipe it to `jq` or `JSON.parse` whole. `texts` adds the full text of every message
 * shadow mode would have sent (read back by reference) to the lines. Both show the email's case:
 * its emails in the order they came, with where each rests (`case` in the JSON).
 */
export async function runAudit(config: Config, logger: Logger, id: string, json: boolean, texts = false): Promise<string> {
  const parsed = EmailId.safeParse(id);
  if (!parsed.success) throw new MailroomError('INPUT_NOT_FOUND', `"${id}" is not an email id (em_ and 16 hex digits)`);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    // Redis first (work in flight); an email archived out of it reads the same from the store.
    const live = await app.audit.read(parsed.data);
    const archived = live.length === 0 ? await app.history.get(parsed.data) : null;
    const events = archived?.events ?? live;
    if (events.length === 0) throw new MailroomError('INPUT_NOT_FOUND', `no audit trail for ${id}`);
    const history = await caseHistory(app, parsed.data);
    if (json) return `${JSON.stringify({ emailId: parsed.data, record: archived?.record ?? (await app.ledger.get(parsed.data)), events, case: history })}\n`;
    const lines = events.map((e) => `${e.ts}  ${e.type.padEnd(15)} ${e.actor.padEnd(10)} ${JSON.stringify(e.data)}`);
    if (history) lines.push('', ...formatCaseHistory(history, parsed.data));
    if (texts) {
      for (const effect of wouldDoEffects(events)) {
        for (const m of effect.messages) {
          const text = await app.content.getText(m.textRef).catch(() => '(expired: message texts are kept for contentTtlSeconds)');
          lines.push('', `----- would send (step ${effect.stepId}, ${effect.tool}) to ${m.to}: ${m.subject} -----`, text, '----- end -----');
        }
      }
    }
    return lines.join('\n') + '\n';
  } finally {
    await app.close();
  }
}
