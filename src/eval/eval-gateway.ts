import { MailroomError } from '../kernel/errors.js';
import type { LlmGateway } from '../llm/gateway.js';

export interface EvalGatewayOptions {
  /** Where email text goes: the sandboxed readers' model (a worst-case server, or the endpoint). */
  readers: LlmGateway;
  /**
   * The planner role, served competently: `playbooks` (the gateway declines, so the planner
   * plans from the playbooks exactly as the offline provider does) or a model gateway.
   */
  planner: LlmGateway | 'playbooks';
  /** Sees the text of every request before it is sent (the eval looks for canaries here). */
  observe: (role: string, text: string) => void;
}

/**
 * The model gateway of an eval run: the worst case goes where email text goes, the planner role
 * is served competently, and every request is observed. A model that obeys injections is also a
 * useless planner; since the planner never sees the payload, serving it well is what makes the
 * run mean something.
 */
export function createEvalGateway(options: EvalGatewayOptions): LlmGateway {
  const { readers, planner, observe } = options;
  return {
    mode: 'openai',
    model: readers.model,
    async structured(req) {
      observe(req.role, `${req.system}\n${req.user}`);
      if (req.role !== 'planner') return readers.structured(req);
      if (planner === 'playbooks') throw new MailroomError('LLM_UNAVAILABLE', 'the eval serves the planner role with the playbooks');
      return planner.structured(req);
    },
    usage: () => readers.usage(),
  };
}
