import { OpenAI, InternalServerError, RateLimitError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  exampleForJsonSchema,
  sequenceResponder,
  startOpenAiServer,
  roleResponder,
} from './openai-server.js';
import type { OpenAiTestServer } from './openai-server.js';

const planner = { headers: { 'x-mailroom-role': 'planner' } };

describe('OpenAI test server', () => {
  let server: OpenAiTestServer;
  let client: OpenAI;

  beforeAll(async () => {
    server = await startOpenAiServer();
    client = new OpenAI({ apiKey: 'test', baseURL: server.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  it('records each request with its role header, parsed body and raw text', async () => {
    const completion = await client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hello CANARY-123' }] },
      planner,
    );

    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-test');
    expect(completion.choices[0]?.message.content).toBe('ok');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.role).toBe('planner');
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe('Bearer test');
    expect(request?.body).toMatchObject({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hello CANARY-123' }],
    });
    expect(request?.raw).toContain('CANARY-123');
    expect(server.requestsByRole('planner')).toHaveLength(1);
    expect(server.requestsByRole('sandbox:draft_reply')).toHaveLength(0);
  });

  it('answers with a scripted responder until reset', async () => {
    server.setResponder((request) => ({
      content: `role=${request.role ?? 'none'}`,
      usage: { promptTokens: 7 },
    }));
    const scripted = await client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-mailroom-role': 'sandbox:classify' } },
    );
    expect(scripted.choices[0]?.message.content).toBe('role=sandbox:classify');
    expect(scripted.usage?.prompt_tokens).toBe(7);

    server.reset();
    expect(server.requests).toHaveLength(0);
    const restored = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(restored.choices[0]?.message.content).toBe('ok');
    expect(server.requests[0]?.role).toBeUndefined();
  });

  it('dispatches on role and plays a sequence', async () => {
    server.setResponder(
      roleResponder({ planner: sequenceResponder([{ content: 'first' }, { content: 'second' }]) }, () => ({
        content: 'other',
      })),
    );
    const ask = async (role: string): Promise<string | null | undefined> => {
      const completion = await client.chat.completions.create(
        { model: 'm', messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-mailroom-role': role } },
      );
      return completion.choices[0]?.message.content;
    };
    expect(await ask('planner')).toBe('first');
    expect(await ask('sandbox:summarize')).toBe('other');
    expect(await ask('planner')).toBe('second');
    expect(await ask('planner')).toBe('ok');
  });

  it('answers a zod 4 structured-output call with a schema-valid value by default', async () => {
    const Step = z.discriminatedUnion('tool', [
      z.object({
        id: z.string(),
        tool: z.literal('search_kb'),
        args: z.object({ topic: z.enum(['billing', 'bug']) }),
      }),
      z.object({ id: z.string(), tool: z.literal('send_reply'), args: z.object({ draft: z.string() }) }),
    ]);
    const Plan = z.object({
      steps: z.array(Step).min(1).max(8),
      reason: z.string().min(3),
      contact: z.email(),
      priority: z.number().int().min(1).max(5),
      urgent: z.boolean(),
      note: z.string().nullable(),
    });

    const completion = await client.chat.completions.parse(
      {
        model: 'm',
        messages: [{ role: 'user', content: 'plan' }],
        response_format: zodResponseFormat(Plan, 'plan'),
      },
      planner,
    );

    const parsed = completion.choices[0]?.message.parsed;
    expect(parsed).toEqual({
      steps: [{ id: 'x', tool: 'search_kb', args: { topic: 'billing' } }],
      reason: 'xxx',
      contact: 'x@example.com',
      priority: 1,
      urgent: false,
      note: 'x',
    });
    expect(Plan.parse(parsed)).toEqual(parsed);
    expect(server.requests[0]?.body).toMatchObject({
      response_format: { type: 'json_schema', json_schema: { name: 'plan', strict: true } },
    });
  });

  it('surfaces a scripted refusal', async () => {
    server.setResponder(() => ({ refusal: 'I cannot help with that.' }));
    const completion = await client.chat.completions.parse({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      response_format: zodResponseFormat(z.object({ a: z.string() }), 'a'),
    });
    expect(completion.choices[0]?.message.refusal).toBe('I cannot help with that.');
    expect(completion.choices[0]?.message.parsed).toBeNull();
  });

  it('maps a scripted 500 to InternalServerError without retrying when maxRetries is 0', async () => {
    server.setResponder(() => ({ status: 500 }));
    const call = client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    await expect(call).rejects.toBeInstanceOf(InternalServerError);
    await expect(call).rejects.toMatchObject({ status: 500, type: 'server_error' });
    expect(server.requests).toHaveLength(1);
  });

  it('lets the client retry a 429 quickly', async () => {
    server.setResponder(sequenceResponder([{ status: 429 }, { status: 429 }, { content: 'finally' }]));
    const retrying = new OpenAI({ apiKey: 'test', baseURL: server.url, maxRetries: 2 });
    const completion = await retrying.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(completion.choices[0]?.message.content).toBe('finally');
    expect(server.requests).toHaveLength(3);

    server.setResponder(() => ({
      status: 429,
      body: { error: { message: 'slow down', code: 'rate_limit_exceeded' } },
    }));
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toBeInstanceOf(RateLimitError);
  });

  it('also serves /chat/completions for base URLs without /v1', async () => {
    const bare = new OpenAI({ apiKey: 'test', baseURL: server.url.replace(/\/v1$/, ''), maxRetries: 0 });
    const completion = await bare.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(completion.choices[0]?.message.content).toBe('ok');
    expect(server.requests[0]?.path).toBe('/chat/completions');
  });

  it('turns a throwing responder into one failed call', async () => {
    server.setResponder(() => {
      throw new Error('script bug');
    });
    const retrying = new OpenAI({ apiKey: 'test', baseURL: server.url, maxRetries: 2 });
    await expect(
      retrying.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toThrow(/script bug/);
    expect(server.requests).toHaveLength(1);
  });
});

describe('exampleForJsonSchema', () => {
  const Leaf = z.object({ label: z.string() });
  const Tree = z.object({
    name: z.string(),
    get children(): z.ZodArray<typeof Tree> {
      return z.array(Tree);
    },
  });
  const cases: [string, z.ZodType][] = [
    ['primitives', z.object({ s: z.string(), n: z.number(), i: z.int(), b: z.boolean(), u: z.null() })],
    [
      'bounds',
      z.object({
        n: z.number().gt(2).lt(3),
        g: z.number().gt(0),
        neg: z.int().lt(-4),
        i: z.int().gte(10),
        m: z.int().multipleOf(7).min(1),
      }),
    ],
    ['strings', z.object({ min: z.string().min(5), max: z.string().max(0), url: z.url(), id: z.uuid() })],
    ['formats', z.object({ at: z.iso.datetime(), day: z.iso.date(), ip: z.ipv4() })],
    ['enum and literal', z.object({ e: z.enum(['b', 'a']), l: z.literal(42) })],
    ['optional and nullable', z.object({ o: z.string().optional(), n: z.number().nullable() })],
    ['union', z.object({ u: z.union([z.object({ a: z.string() }), z.number()]) })],
    ['arrays', z.object({ a: z.array(Leaf).min(2), t: z.tuple([z.string(), z.number()]) })],
    ['record', z.object({ r: z.record(z.string(), z.number()) })],
    ['intersection', z.intersection(z.object({ a: z.string() }), z.object({ b: z.number() }))],
    ['shared and recursive ($ref)', z.object({ a: Leaf, b: Leaf, tree: Tree })],
  ];

  it.each(cases)('%s: the example parses with the zod schema', (_name, schema) => {
    const example = exampleForJsonSchema(z.toJSONSchema(schema, { reused: 'ref' }));
    expect(schema.safeParse(example).error).toBeUndefined();
  });

  it('resolves $ref into $defs and definitions', () => {
    const schema = {
      type: 'object',
      properties: { a: { $ref: '#/$defs/A' }, b: { $ref: '#/definitions/B' } },
      required: ['a', 'b'],
      $defs: { A: { type: 'string', enum: ['first', 'second'] } },
      definitions: { B: { anyOf: [{ type: 'integer', minimum: 3 }, { type: 'string' }] } },
    };
    expect(exampleForJsonSchema(schema)).toEqual({ a: 'first', b: 3 });
  });

  it('fails clearly on unresolvable refs and unsatisfiable recursion', () => {
    expect(() => exampleForJsonSchema({ $ref: '#/$defs/Missing' })).toThrow(/does not resolve/);
    const loop = { type: 'object', properties: { self: { $ref: '#' } }, required: ['self'] };
    expect(() => exampleForJsonSchema(loop)).toThrow(/recursive/);
  });
});
