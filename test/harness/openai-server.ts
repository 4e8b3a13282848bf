import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatCompletion } from 'openai/resources/chat/completions';

/** One request the test server received on its chat-completions endpoint. */
export interface RecordedRequest {
  /** The `x-mailroom-role` header (`planner`, `sandbox:<tool>`), `undefined` when absent. */
  readonly role: string | undefined;
  readonly method: string;
  /** Request path, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body; `undefined` when the body was not valid JSON. */
  readonly body: unknown;
  /** The body exactly as sent — search it for canary tokens. */
  readonly raw: string;
}

/** Token counts reported in `usage`; unset counts are estimated from text length. */
export interface ScriptedUsage {
  readonly promptTokens?: number;
  readonly completionTokens?: number;
}

/** The assistant answers with `content` in a well-formed `chat.completion`. */
export interface ContentResult {
  readonly content: string;
  /** @defaultValue `'stop'` */
  readonly finishReason?: 'stop' | 'length' | 'content_filter';
  readonly usage?: ScriptedUsage;
}

/** The assistant refuses: `message.content` is null and `message.refusal` is set. */
export interface RefusalResult {
  readonly refusal: string;
}

/**
 * An HTTP error. Without `body`, an OpenAI-style `{ error: { message, type, code } }` is sent.
 * `retry-after-ms: 0` is sent unless `headers` override it, so client retries do not slow tests.
 */
export interface HttpErrorResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type ResponderResult = ContentResult | RefusalResult | HttpErrorResult;

/** Decides the answer to one request; may be async (e.g. to simulate a slow model). */
export type Responder = (request: RecordedRequest) => ResponderResult | Promise<ResponderResult>;

export interface OpenAiTestServer {
  /** Base URL for the `openai` client's `baseURL`, ending in `/v1`. */
  readonly url: string;
  readonly port: number;
  /** Every chat-completions request, oldest first. */
  readonly requests: readonly RecordedRequest[];
  requestsByRole(role: string): RecordedRequest[];
  /** Replaces the responder for all following requests. */
  setResponder(responder: Responder): void;
  /** Forgets recorded requests and restores the responder given at start. */
  reset(): void;
  close(): Promise<void>;
}

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Answers a `json_schema` response format with the minimal value that satisfies the schema,
 * `json_object` with `{}`, and anything else with the text `ok`.
 */
export const defaultResponder: Responder = (request) => {
  const format = isRecord(request.body) ? request.body['response_format'] : undefined;
  if (isRecord(format) && format['type'] === 'json_schema') {
    const jsonSchema = format['json_schema'];
    const schema = isRecord(jsonSchema) ? jsonSchema['schema'] : undefined;
    return { content: JSON.stringify(exampleForJsonSchema(schema ?? {})) };
  }
  if (isRecord(format) && format['type'] === 'json_object') return { content: '{}' };
  return { content: 'ok' };
};

/**
 * Answers the n-th request with the n-th entry (a result or a responder), then defers to `then`.
 * Typical use: `sequenceResponder([{ status: 500 }, { content: '{"a":1}' }])`.
 */
export function sequenceResponder(
  script: readonly (ResponderResult | Responder)[],
  then: Responder = defaultResponder,
): Responder {
  let next = 0;
  return (request) => {
    const entry = script[next];
    next += 1;
    if (entry === undefined) return then(request);
    return typeof entry === 'function' ? entry(request) : entry;
  };
}

/** Dispatches on the `x-mailroom-role` header; roles not listed go to `fallback`. */
export function roleResponder(
  byRole: Readonly<Record<string, Responder>>,
  fallback: Responder = defaultResponder,
): Responder {
  return (request) => {
    const responder = request.role === undefined ? undefined : byRole[request.role];
    return (responder ?? fallback)(request);
  };
}

const FORMAT_EXAMPLES: Readonly<Record<string, string>> = {
  email: 'x@example.com',
  'idn-email': 'x@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  'uri-reference': 'https://example.com/',
  iri: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  'date-time': '1970-01-01T00:00:00.000Z',
  date: '1970-01-01',
  time: '00:00:00',
  duration: 'P1D',
  hostname: 'example.com',
  ipv4: '127.0.0.1',
  ipv6: '::1',
};

const MAX_DEPTH = 64;

/**
 * The minimal JSON value valid against a JSON schema: objects with their required properties,
 * `const` or the first `enum` value, the first `anyOf`/`oneOf` branch, the first listed `type`,
 * strings `"x"` (a sample for known `format`s, padded to `minLength`), numbers 0 moved into
 * their bounds, arrays of `minItems` items, `$ref`s into `$defs`/`definitions` resolved.
 * `pattern` is not honoured.
 *
 * @throws Error for `false` schemas, unresolvable `$ref`s and unbounded required recursion.
 */
export function exampleForJsonSchema(schema: unknown, root: unknown = schema): unknown {
  return example(schema, root, 0);
}

function example(schema: unknown, root: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new Error(`JSON schema example: deeper than ${MAX_DEPTH} levels (a required recursive property?)`);
  }
  if (schema === true) return null;
  if (!isRecord(schema)) throw new Error(`JSON schema example: no value satisfies ${JSON.stringify(schema)}`);
  const ref = schema['$ref'];
  if (typeof ref === 'string') return example(resolveRef(root, ref), root, depth + 1);
  if ('const' in schema) return schema['const'];
  const enumValues = schema['enum'];
  if (Array.isArray(enumValues) && enumValues.length > 0) return enumValues[0];
  const union = schema['anyOf'] ?? schema['oneOf'];
  if (Array.isArray(union) && union.length > 0) return example(union[0], root, depth + 1);
  const allOf = schema['allOf'];
  if (Array.isArray(allOf) && allOf.length > 0) {
    const parts = allOf.map((part) => example(part, root, depth + 1));
    return parts.every(isRecord) ? Object.assign({}, ...parts) : parts[0];
  }
  switch (typeOf(schema)) {
    case 'object':
      return exampleObject(schema, root, depth);
    case 'array':
      return exampleArray(schema, root, depth);
    case 'string':
      return exampleString(schema);
    case 'number':
      return exampleNumber(schema, false);
    case 'integer':
      return exampleNumber(schema, true);
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function typeOf(schema: JsonRecord): string | undefined {
  const type = schema['type'];
  if (typeof type === 'string') return type;
  if (Array.isArray(type) && typeof type[0] === 'string') return type[0];
  if ('properties' in schema) return 'object';
  if ('items' in schema || 'prefixItems' in schema) return 'array';
  return undefined;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#'))
    throw new Error(`JSON schema example: only local $refs are supported, got ${ref}`);
  let node = root;
  for (const token of ref
    .slice(1)
    .split('/')
    .filter((part) => part !== '')) {
    const key = decodeURIComponent(token).replace(/~1/g, '/').replace(/~0/g, '~');
    node = Array.isArray(node) ? node[Number(key)] : isRecord(node) ? node[key] : undefined;
    if (node === undefined) throw new Error(`JSON schema example: $ref ${ref} does not resolve`);
  }
  return node;
}

function exampleObject(schema: JsonRecord, root: unknown, depth: number): JsonRecord {
  const properties = isRecord(schema['properties']) ? schema['properties'] : {};
  const required = Array.isArray(schema['required']) ? schema['required'] : [];
  const value: JsonRecord = {};
  for (const key of required) {
    if (typeof key === 'string') value[key] = example(properties[key] ?? true, root, depth + 1);
  }
  return value;
}

function exampleArray(schema: JsonRecord, root: unknown, depth: number): unknown[] {
  const minItems = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0;
  const items = schema['items'];
  const prefix = Array.isArray(schema['prefixItems'])
    ? schema['prefixItems']
    : Array.isArray(items)
      ? items
      : [];
  const rest = Array.isArray(items) ? (schema['additionalItems'] ?? true) : (items ?? true);
  const count = Math.max(minItems, prefix.length);
  return Array.from({ length: count }, (_, index) => example(prefix[index] ?? rest, root, depth + 1));
}

function exampleString(schema: JsonRecord): string {
  const format = schema['format'];
  let value = (typeof format === 'string' ? FORMAT_EXAMPLES[format] : undefined) ?? 'x';
  const minLength = schema['minLength'];
  const maxLength = schema['maxLength'];
  if (typeof minLength === 'number' && value.length < minLength) value = value.padEnd(minLength, 'x');
  if (typeof maxLength === 'number' && value.length > maxLength) value = value.slice(0, maxLength);
  return value;
}

function exampleNumber(schema: JsonRecord, integer: boolean): number {
  const num = (key: string): number | undefined => {
    const bound = schema[key];
    return typeof bound === 'number' ? bound : undefined;
  };
  const exclusiveMin = num('exclusiveMinimum');
  const exclusiveMax = num('exclusiveMaximum');
  const lower = Math.max(num('minimum') ?? -Infinity, exclusiveMin ?? -Infinity);
  const upper = Math.min(num('maximum') ?? Infinity, exclusiveMax ?? Infinity);
  const lowerOpen = exclusiveMin !== undefined && exclusiveMin >= lower;
  const upperOpen = exclusiveMax !== undefined && exclusiveMax <= upper;
  const middle = Number.isFinite(lower) && Number.isFinite(upper) ? (lower + upper) / 2 : undefined;
  let value = 0;
  if (value < lower || (lowerOpen && value === lower)) {
    if (integer) value = lowerOpen ? Math.floor(lower) + 1 : Math.ceil(lower);
    else value = lowerOpen ? (middle ?? lower + 1) : lower;
  } else if (value > upper || (upperOpen && value === upper)) {
    if (integer) value = upperOpen ? Math.ceil(upper) - 1 : Math.floor(upper);
    else value = upperOpen ? (middle ?? upper - 1) : upper;
  }
  const multipleOf = num('multipleOf');
  if (multipleOf !== undefined && multipleOf > 0) value = Math.ceil(value / multipleOf) * multipleOf;
  return value;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function errorBody(status: number, message: string): unknown {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

function completionFor(
  request: RecordedRequest,
  result: ContentResult | RefusalResult,
  id: number,
): ChatCompletion {
  const model =
    isRecord(request.body) && typeof request.body['model'] === 'string'
      ? request.body['model']
      : 'test-model';
  const isRefusal = 'refusal' in result;
  const text = isRefusal ? result.refusal : result.content;
  const promptTokens = (isRefusal ? undefined : result.usage?.promptTokens) ?? estimateTokens(request.raw);
  const completionTokens = (isRefusal ? undefined : result.usage?.completionTokens) ?? estimateTokens(text);
  return {
    id: `chatcmpl-test-${id}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        logprobs: null,
        finish_reason: isRefusal ? 'stop' : (result.finishReason ?? 'stop'),
        message: isRefusal
          ? { role: 'assistant', content: null, refusal: result.refusal }
          : { role: 'assistant', content: result.content, refusal: null },
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

const CHAT_PATHS = new Set(['/v1/chat/completions', '/chat/completions']);

/**
 * Starts an OpenAI-compatible chat-completions server on 127.0.0.1 and a free port.
 * Non-streaming only: a request with `stream: true` gets a 400.
 *
 * @param script answers requests; {@link defaultResponder} when omitted.
 */
export async function startOpenAiServer(script: Responder = defaultResponder): Promise<OpenAiTestServer> {
  const requests: RecordedRequest[] = [];
  let responder = script;
  let completions = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const raw = await readBody(req);
    if (!CHAT_PATHS.has(path)) {
      sendJson(res, 404, errorBody(404, `test server: no route for ${req.method ?? '?'} ${path}`));
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, errorBody(405, `test server: ${path} takes POST`));
      return;
    }
    const request: RecordedRequest = {
      role: headerValue(req.headers, 'x-mailroom-role'),
      method: req.method,
      path,
      headers: req.headers,
      body: parseJson(raw),
      raw,
    };
    requests.push(request);
    if (request.body === undefined) {
      sendJson(res, 400, errorBody(400, 'test server: body is not valid JSON'));
      return;
    }
    if (isRecord(request.body) && request.body['stream'] === true) {
      sendJson(res, 400, errorBody(400, 'test server: stream: true is not supported'));
      return;
    }
    let result: ResponderResult;
    try {
      result = await responder(request);
    } catch (error) {
      // A broken script is a test bug: fail the call once instead of letting the client retry it.
      const message = error instanceof Error ? error.message : String(error);
      sendJson(res, 500, errorBody(500, `test server: responder threw: ${message}`), {
        'x-should-retry': 'false',
      });
      return;
    }
    if ('status' in result) {
      const body = result.body ?? errorBody(result.status, `scripted HTTP ${result.status}`);
      sendJson(res, result.status, body, { 'retry-after-ms': '0', ...result.headers });
      return;
    }
    completions += 1;
    sendJson(res, 200, completionFor(request, result, completions));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      sendJson(res, 500, errorBody(500, `test server: ${String(error)}`), { 'x-should-retry': 'false' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo; // listen() on a TCP port always yields an AddressInfo

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    requestsByRole: (role) => requests.filter((request) => request.role === role),
    setResponder: (next) => {
      responder = next;
    },
    reset: () => {
      requests.length = 0;
      responder = script;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The openai client keeps connections alive; without this close() waits for them to idle out.
        server.closeAllConnections();
      }),
  };
}
