import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { actsOnTheWorld } from '../../src/executor/shadow.js';
import { ALL_TOOLS, createRegistry } from '../../src/tools/registry.js';
import { defineTool } from '../../src/tools/tool.js';

describe('shadow mode and the tool registry', () => {
  it('refuses a write or external tool that cannot say what it would do', () => {
    const silent = defineTool({
      name: 'silent_write',
      description: 'Writes somewhere.',
      risk: 'write',
      input: z.object({}).strict(),
      output: z.object({ ok: z.boolean() }).strict(),
      untrustedInputs: [],
      taintedOutputs: [],
      outputLabel: 'internal',
      sideEffect: true,
      async run() {
        return { ok: true };
      },
    });
    expect(() => createRegistry([...ALL_TOOLS, silent])).toThrow(
      /silent_write: a write tool needs a preview for shadow mode/,
    );
    expect(() =>
      createRegistry([...ALL_TOOLS, { ...silent, risk: 'read' as const, sideEffect: false }]),
    ).not.toThrow();
  });

  it('previews every tool that acts, and runs every reader', () => {
    for (const t of ALL_TOOLS) {
      expect(actsOnTheWorld(t), t.name).toBe(t.risk !== 'read');
      if (actsOnTheWorld(t)) expect(t.preview, t.name).toBeTypeOf('function');
    }
    expect(ALL_TOOLS.filter(actsOnTheWorld).map((t) => t.name)).toEqual(
      expect.arrayContaining([
        'send_reply',
        'send_email',
        'forward_to_team',
        'escalate',
        'set_flags',
        'move_message',
        'apply_label',
        'issue_refund',
      ]),
    );
  });
});
