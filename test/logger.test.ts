import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, lazyChild, type Logger } from '../src/kernel/logger.js';

function sink(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('lazyChild: a child logger made only when something is logged through it', () => {
  it('logs exactly what a real child logs, bindings and redaction included', () => {
    const s = sink();
    const root = createLogger({ level: 'info', destination: s.stream });
    root.child({ component: 'executor', emailId: 'em_1' }).child({ stepId: 'send' }).info({ text: 'secret' }, 'hello');
    lazyChild(lazyChild(root, { component: 'executor', emailId: 'em_1' }), { stepId: 'send' }).info({ text: 'secret' }, 'hello');
    const [real, lazy] = s.lines().map(({ time: _t, ...rest }) => rest);
    expect(real).toMatchObject({ component: 'executor', emailId: 'em_1', stepId: 'send', text: '[redacted]', msg: 'hello' });
    expect(lazy).toEqual(real);
  });

  it('makes no child while nothing is logged at an enabled level (an eager child would be made at once)', () => {
    const root = createLogger({ level: 'info' });
    const child = vi.spyOn(root, 'child');
    const job: Logger = lazyChild(root, { jobId: 'j1' });
    const step = lazyChild(job, { stepId: 's1' });
    step.debug('not at this level');
    job.trace('nor this');
    expect(step.isLevelEnabled('debug')).toBe(false);
    expect(child).not.toHaveBeenCalled();
  });

  it('is made once, on the first enabled call, and then keeps its bindings and level changes', () => {
    const s = sink();
    const root = createLogger({ level: 'info', destination: s.stream });
    const child = vi.spyOn(root, 'child');
    const log = lazyChild(root, { jobId: 'j2' });
    log.warn('one');
    log.level = 'debug';
    log.debug('two');
    expect(child).toHaveBeenCalledTimes(1);
    expect(s.lines().map((l) => [l.jobId, l.msg])).toEqual([
      ['j2', 'one'],
      ['j2', 'two'],
    ]);
  });
});
