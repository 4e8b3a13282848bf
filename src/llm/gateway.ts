import { OpenAI, APIConnectionError, APIConnectionTimeoutError, APIError, RateLimitError, InternalServerError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { z } from 'zod';
import type { Config } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';

/** The header every LLM request carries: `planner` or `sandbox:<tool>`. */
export const ROLE_HEADER = 'x-mailroom-role';

export type LlmRole = 'planner' | `sandbox:${string}`;

export interface StructuredRequest<S extends z.ZodType> {
  role: LlmRole;
  schema: S;
  schemaName: string;
  system: string;
  user: string;
  maxOutputTokens: number;
  signal?: AbortSignal;
}

export interface LlmUsage {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  byRole: Record<string, number>;
}

/**
 * The one gateway to the model. Nothing else imports `openai`. In offline mode there is no model:
 * the planner uses playbooks and each sandboxed reader its deterministic implementation.
 */
export interface LlmGateway {
  readonly mode: 'openai' | 'offline';
  readonly model: string | null;
  structured<S extends z.ZodType>(req: StructuredRequest<S>): Promise<z.infer<S>>;
  usage(): LlmUsage;
}

/**
 * The error a failed call becomes. Its message names the failure, never the endpoint's own text:
 * a proxy or model server may echo the prompt (for a sandboxed reader, the email) in its error
 * body, and the message becomes a quarantine reason that the ledger, the report and the logs show.
 */
function mapError(err: unknown, role: string): MailroomError {
  if (err instanceof MailroomError) return err;
  if (err instanceof APIConnectionError || err instanceof RateLimitError || err instanceof InternalServerError) {
    const what = err instanceof APIConnectionTimeoutError ? 'timed out' : err instanceof APIConnectionError ? 'connection failed' : `HTTP ${String(err.status)}`;
    return new MailroomError('LLM_UNAVAILABLE', `LLM endpoint unavailable for ${role} (${what})`, { cause: err });
  }
  if (err instanceof APIError) {
    return new MailroomError('LLM_UNAVAILABLE', `LLM endpoint refused ${role} (HTTP ${String(err.status)})`, {
      cause: err,
      retryable: false,
    });
  }
  return new MailroomError('LLM_OUTPUT_INVALID', `LLM output for ${role} is not valid`, { cause: err });
}

export function createLlmGateway(config: Config, logger: Logger): LlmGateway {
  const usage: LlmUsage = { calls: 0, promptTokens: 0, completionTokens: 0, byRole: {} };
  const openai = config.openai;
  if (!openai) {
    return {
      mode: 'offline',
      model: null,
      structured: (req) =>
        Promise.reject(new MailroomError('LLM_UNAVAILABLE', `no model configured for ${req.role} (offline provider)`)),
      usage: () => ({ ...usage, byRole: { ...usage.byRole } }),
    };
  }
  // The client owns HTTP retries (with backoff) and timeouts; nothing above adds a loop of its own.
  const client = new OpenAI({
    apiKey: openai.apiKey,
    baseURL: openai.baseUrl,
    timeout: openai.timeoutMs,
    maxRetries: openai.maxRetries,
  });
  const log = logger.child({ component: 'llm' });
  return {
    mode: 'openai',
    model: openai.model,
    async structured(req) {
      usage.calls += 1;
      usage.byRole[req.role] = (usage.byRole[req.role] ?? 0) + 1;
      let completion;
      try {
        completion = await client.chat.completions.parse(
          {
            model: openai.model,
            messages: [
              { role: 'system', content: req.system },
              { role: 'user', content: req.user },
            ],
            response_format: zodResponseFormat(req.schema, req.schemaName),
            max_completion_tokens: req.maxOutputTokens,
          },
          { headers: { [ROLE_HEADER]: req.role }, signal: req.signal },
        );
      } catch (err) {
        const mapped = mapError(err, req.role);
        log.warn({ role: req.role, code: mapped.publicCode }, 'llm call failed');
        throw mapped;
      }
      usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
      usage.completionTokens += completion.usage?.completion_tokens ?? 0;
      const message = completion.choices[0]?.message;
      if (!message || message.refusal) {
        throw new MailroomError('LLM_OUTPUT_INVALID', `the model refused or returned nothing for ${req.role}`);
      }
      // Parsed by the SDK already; parse again with our own schema so nothing unchecked passes.
      const checked = req.schema.safeParse(message.parsed);
      if (!checked.success) {
        throw new MailroomError('LLM_OUTPUT_INVALID', `LLM output for ${req.role} does not match ${req.schemaName}`);
      }
      log.debug({ role: req.role, tokens: completion.usage?.total_tokens }, 'llm call');
      return checked.data;
    },
    usage: () => ({ ...usage, byRole: { ...usage.byRole } }),
  };
}
