import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerBenign } from './benign-model.js';
import { answerWorstCase, callId, ChatRequest, type ModelAnswer } from './worst-case-model.js';

/** Which model a server plays: the two worst cases, or a benign one for the naive agent's baseline runs. */
export type ServedModel = 'worst-case' | 'evasive' | 'benign';

export interface ModelServer {
  /** Base URL for an OpenAI client (`…/v1`). */
  readonly url: string;
  /** Chat-completions requests answered so far. */
  requests(): number;
  close(): Promise<void>;
}

export interface ModelServerOptions {
  model: ServedModel;
  /**
   * Sees every request body exactly as sent, with the `x-mailroom-role` header when present; the
   * eval looks for canaries here. The model itself never reads the header.
   */
  onRequest?: (raw: string, role: string | undefined) => void;
}

/** Answers one request as the served model. Pure; exported for unit tests. */
export function answer(model: ServedModel, request: ChatRequest): ModelAnswer {
  return model === 'benign' ? answerBenign(request) : answerWorstCase(model, request);
}

function completion(request: ChatRequest, result: ModelAnswer, n: number) {
  const message =
    result.kind === 'content'
      ? { role: 'assistant', content: result.content, refusal: null }
      : {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: result.calls.map((c, i) => ({ id: callId(request, i), type: 'function', function: { name: c.name, arguments: c.arguments } })),
        };
  return {
    id: `chatcmpl-eval-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? 'eval-model',
    choices: [{ index: 0, logprobs: null, finish_reason: result.kind === 'content' ? 'stop' : 'tool_calls', message }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-should-retry': 'false' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * An OpenAI-compatible chat-completions server on 127.0.0.1 and a free port, playing one model.
 * Non-streaming; any path ending in `/chat/completions`.
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  let count = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
      send(res, 404, { error: { message: `no route for ${req.method ?? '?'} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    const role = req.headers['x-mailroom-role'];
    options.onRequest?.(raw, Array.isArray(role) ? role.join(',') : role);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      return;
    }
    const parsed = ChatRequest.safeParse(json);
    if (!parsed.success) {
      send(res, 400, { error: { message: 'not a chat-completions request', type: 'invalid_request_error' } });
      return;
    }
    count += 1;
    send(res, 200, completion(parsed.data, answer(options.model, parsed.data), count));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: { message: String(err), type: 'server_error' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? (address satisfies AddressInfo).port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
