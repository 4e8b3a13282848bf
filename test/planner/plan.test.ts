import { describe, expect, it } from 'vitest';
import {
  ArgValue,
  Plan,
  Step,
  StepId,
  looksLikePlaceholder,
  parsePlaceholder,
  referencedSteps,
} from '../../src/model/plan.js';

describe('parsePlaceholder', () => {
  it('answers null for plain literals', () => {
    expect(parsePlaceholder('mailroom/billing')).toBeNull();
    expect(parsePlaceholder('')).toBeNull();
    expect(parsePlaceholder('{ not a placeholder }')).toBeNull();
  });

  it.each([
    ['{{email.ref}}', { kind: 'email' }],
    ['{{ email.ref }}', { kind: 'email' }],
    ['{{context.category.name}}', { kind: 'context', path: ['category', 'name'] }],
    ['{{context.sender.verified}}', { kind: 'context', path: ['sender', 'verified'] }],
    ['{{steps.kb.output.articleId}}', { kind: 'step', stepId: 'kb', path: ['articleId'] }],
    ['{{steps.draft.output.ref}}', { kind: 'step', stepId: 'draft', path: ['ref'] }],
    ['{{steps.kb.output}}', { kind: 'step', stepId: 'kb', path: [] }],
  ])('parses %s', (value, expected) => {
    expect(parsePlaceholder(value)).toEqual(expected);
  });

  it.each([
    ['hi {{email.ref}}', 'spliced into text'],
    ['{{email.ref}} thanks', 'spliced into text'],
    ['{{email.ref}}{{email.ref}}', 'two placeholders'],
    ['{{email.ref}}\n', 'trailing newline'],
    ['{{email.text}}', 'email text'],
    ['{{email.subject}}', 'email subject'],
    ['{{email}}', 'the email itself'],
    ['{{email.ref.x}}', 'below email.ref'],
    ['{{steps.x}}', 'step without output'],
    ['{{steps.x.result.y}}', 'step without output'],
    ['{{steps}}', 'steps alone'],
    ['{{context}}', 'context alone'],
    ['{{secrets.smtp}}', 'unknown root'],
    ['{{env.OPENAI_API_KEY}}', 'unknown root'],
    ['{{context..name}}', 'empty path part'],
    ['{{context.category.}}', 'empty path part'],
    ['{{.email.ref}}', 'empty path part'],
    ['{{context.1st}}', 'path part starting with a digit'],
    ['{{context.category-name}}', 'invalid character'],
    ['{{}}', 'empty'],
    ['{{email.ref', 'unclosed'],
    ['email.ref}}', 'unopened'],
  ])('refuses %j (%s)', (value) => {
    expect(() => parsePlaceholder(value)).toThrow();
  });

  it('keeps the error short even for a long value', () => {
    const long = `{{${'x'.repeat(3000)} }}`;
    let message = '';
    try {
      parsePlaceholder(`hi ${long}`);
    } catch (e) {
      message = e instanceof Error ? e.message : String(e);
    }
    expect(message).toContain('whole-value placeholder');
    expect(message.length).toBeLessThan(200);
  });
});

describe('looksLikePlaceholder and referencedSteps', () => {
  it('spots anything with {{', () => {
    expect(looksLikePlaceholder('hi {{x')).toBe(true);
    expect(looksLikePlaceholder('hi')).toBe(false);
    expect(looksLikePlaceholder(3)).toBe(false);
  });

  it('lists referenced step ids in order, skipping literals and invalid placeholders', () => {
    expect(
      referencedSteps({
        a: '{{steps.kb.output.articleId}}',
        b: 'literal',
        c: 7,
        d: '{{email.ref}}',
        e: 'x {{steps.bad.output.y}}',
        f: '{{steps.draft.output.ref}}',
      }),
    ).toEqual(['kb', 'draft']);
  });
});

describe('Plan and Step schemas', () => {
  const step = { id: 'kb', tool: 'search_kb', args: { topic: '{{context.category.name}}' } };

  it('accept a well-formed plan', () => {
    expect(
      Plan.safeParse({
        steps: [step, { id: 'label_2', tool: 'apply_label', args: { label: 'x' }, checkpoint: true }],
      }).success,
    ).toBe(true);
  });

  it('reject unknown keys on the plan and on a step', () => {
    expect(Plan.safeParse({ steps: [step], note: 'run this' }).success).toBe(false);
    expect(Step.safeParse({ ...step, recipient: 'attacker@evil.example' }).success).toBe(false);
    expect(Step.safeParse({ ...step, dependsOn: ['x'] }).success).toBe(false);
  });

  it.each(['', 'Kb', '1kb', '_kb', 'kb-1', 'kb.1', 'k b', 'a'.repeat(33), '{{email.ref}}'])(
    'reject the step id %j',
    (id) => {
      expect(StepId.safeParse(id).success).toBe(false);
      expect(Step.safeParse({ ...step, id }).success).toBe(false);
    },
  );

  it.each(['k', 'kb', 'kb_2', 'a'.repeat(32)])('accept the step id %j', (id) => {
    expect(Step.safeParse({ ...step, id }).success).toBe(true);
  });

  it('reject an empty plan and one with more than 50 steps', () => {
    expect(Plan.safeParse({ steps: [] }).success).toBe(false);
    const many = Array.from({ length: 51 }, (_, i) => ({ ...step, id: `s${i}` }));
    expect(Plan.safeParse({ steps: many }).success).toBe(false);
    expect(Plan.safeParse({ steps: many.slice(0, 50) }).success).toBe(true);
  });

  it('reject non-scalar and over-long argument values', () => {
    expect(ArgValue.safeParse({ nested: true }).success).toBe(false);
    expect(ArgValue.safeParse(['a']).success).toBe(false);
    expect(ArgValue.safeParse('x'.repeat(4001)).success).toBe(false);
    expect(Step.safeParse({ ...step, args: { topic: { $ref: 'x' } } }).success).toBe(false);
    for (const v of ['x', 1.5, true, null]) expect(ArgValue.safeParse(v).success).toBe(true);
  });

  it('reject a missing or empty tool and a missing args object', () => {
    expect(Step.safeParse({ id: 'kb', args: {} }).success).toBe(false);
    expect(Step.safeParse({ id: 'kb', tool: '', args: {} }).success).toBe(false);
    expect(Step.safeParse({ id: 'kb', tool: 'search_kb' }).success).toBe(false);
  });
});
