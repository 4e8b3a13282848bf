import { describe, expect, it } from 'vitest';
import { mentionsAddress } from '../../src/run/forget.js';

describe('mentionsAddress (which emails forget takes)', () => {
  it.each([
    ['{"to":"laura@shop.example"}', true],
    ['Reply to Laura@Shop.Example (composed from trusted material only)', true],
    ['write to laura@shop.example.', true],
    ['{"to":"xlaura@shop.example"}', false],
    ['{"to":"laura@shop.example.org"}', false],
    ['{"to":"laura@shop.examples"}', false],
    ['{"to":"laura@shop-example"}', false],
    ['rate:sender:laura@shop.example', true],
  ])('%s → %s', (text, expected) => {
    expect(mentionsAddress(text, 'laura@shop.example')).toBe(expected);
  });
});
