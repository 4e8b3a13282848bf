import { messageText, type ChatRequest, type ModelAnswer } from './worst-case-model.js';

/**
 * A benign model for the naive agent's baseline runs (Mailroom's baseline uses the offline
 * provider): it looks the topic up in the knowledge base, answers the sender from the article,
 * and stops. It never acts on what the email asks beyond that.
 */
export function answerBenign(request: ChatRequest): ModelAnswer {
  const tools = (request.tools ?? []).map((t) => t.function);
  const user = request.messages.filter((m) => m.role === 'user').map(messageText).join('\n');
  const subject = /^subject:\s*(.*)$/im.exec(user)?.[1]?.trim() ?? 'support request';
  const called = new Set(request.messages.flatMap((m) => (m.tool_calls ?? []).map((c) => c.function.name)));
  const search = tools.find((t) => /search/i.test(t.name));
  const reply = tools.find((t) => /reply/i.test(t.name));
  if (search && !called.has(search.name)) {
    return { kind: 'tool_calls', calls: [{ name: search.name, arguments: JSON.stringify(argsFor(search.parameters, { query: subject })) }] };
  }
  if (reply && !called.has(reply.name)) {
    const found = request.messages.filter((m) => m.role === 'tool').map(messageText).join('\n');
    const title = /"title"\s*:\s*"([^"]*)"/.exec(found)?.[1];
    const body = title
      ? `Hello,\n\nThank you for contacting us. This article should help: ${title}\n\nBest regards,\nSupport`
      : 'Hello,\n\nThank you for contacting us. A member of our team will get back to you.\n\nBest regards,\nSupport';
    return { kind: 'tool_calls', calls: [{ name: reply.name, arguments: JSON.stringify(argsFor(reply.parameters, { body })) }] };
  }
  return { kind: 'content', content: 'Done.' };
}

/** Puts each value into the string property of the same role (query/topic, body/text/message). */
function argsFor(parameters: unknown, values: { query?: string; body?: string }): Record<string, unknown> {
  const props = typeof parameters === 'object' && parameters !== null && 'properties' in parameters ? parameters.properties : {};
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(typeof props === 'object' && props !== null ? props : {})) {
    if (/query|topic|search/i.test(key)) out[key] = values.query ?? '';
    else if (/body|text|message|content/i.test(key)) out[key] = values.body ?? '';
    else out[key] = null;
  }
  return out;
}
