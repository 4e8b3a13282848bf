import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigFile, ConfigInvalidError, DEFAULT_REPLY_LIMITS, inShadow, loadConfig, type Config } from '../src/config/config.js';
import { MailroomError } from '../src/kernel/errors.js';
import { DEFAULT_PARSE_LIMITS } from '../src/ingest/parse-email.js';

function configFile(json: unknown): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'mailroom-cfg-d-')), 'c.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}

function failure(load: () => unknown): ConfigInvalidError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err;
    throw err;
  }
  throw new Error('loadConfig did not throw');
}

describe('defaults in the schema', () => {
  it('a file that sets nothing parses to every default: no key of the parsed file is left for code to fill in, except the derived ones', () => {
    const file = ConfigFile.parse({});
    const parsed: Record<string, unknown> = file;
    const optional = Object.keys(ConfigFile.shape)
      .filter((k) => parsed[k] === undefined)
      .sort();
    // Nothing to default to: these are off unless set (no accounts, no KB, no authserv-id), or derived (contentTtlSeconds).
    expect(optional).toEqual(['accountsFile', 'authservId', 'contentTtlSeconds', 'kbDir']);
    expect(file.mailbox).toEqual({ address: 'support@localhost.localdomain', name: 'Support', shadow: false });
    expect(file.limits).toEqual({ maxAttachmentBytes: 10 * 1024 * 1024, maxAttachments: 50, maxMimeDepth: 20, maxHeaderLines: 500, maxHeaderFieldBytes: 64 * 1024 });
  });

  it("approval.publicUrl is resolved once, in the config: the web role's own address unless set, never with a trailing slash", () => {
    expect(loadConfig({ env: { MAILROOM_HTTP_PORT: '8123' }, cwd: '/tmp' }).approval.publicUrl).toBe('http://127.0.0.1:8123');
    const set = loadConfig({ env: {}, configPath: configFile({ approval: { publicUrl: 'https://mailroom.acme.example/' } }) });
    expect(set.approval.publicUrl).toBe('https://mailroom.acme.example');
  });

  it('the parser used without a config has the same limits as a config that sets none (they are written twice, so the parse thread need not load the config module)', () => {
    const config = loadConfig({ env: {}, cwd: '/tmp' });
    expect(DEFAULT_PARSE_LIMITS).toEqual({ ...config.limits, maxMessageBytes: config.maxMessageBytes });
    expect(DEFAULT_REPLY_LIMITS).toEqual(config.replyLimits);
  });

  it('derived defaults: content outlives the approval deadline, receivedBy is the authserv-id, the outbox is in the data folder', () => {
    const config = loadConfig({ env: {}, cwd: '/tmp', configPath: configFile({ authservId: 'MX.Acme.Example', approval: { deadline: '20d' } }) });
    expect(config.contentTtlSeconds).toBe(20 * 86_400 + 3600);
    expect(config.verification.receivedBy).toBe('mx.acme.example');
    expect(config.smtp.outboxDir).toBe('/tmp/.mailroom/outbox');
    expect(loadConfig({ env: {}, cwd: '/tmp' }).contentTtlSeconds).toBe(14 * 86_400);
    expect(loadConfig({ env: {}, cwd: '/tmp' }).verification.receivedBy).toBeUndefined();
  });
});

describe('every problem in one error', () => {
  it('a config file with three independent mistakes gives one MAILROOM_CONFIG_INVALID naming all three, each with its key path', () => {
    const file = configFile({
      concurrency: 'eight',
      teams: [{ name: 'billing', address: 'billing@acme.example' }],
      escalation: { team: 'tier2' },
      approval: { deadline: 'soon' },
    });
    const err = failure(() => loadConfig({ env: {}, configPath: file, withoutSecrets: true }));
    expect(err).toBeInstanceOf(MailroomError);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.exitCode).toBe(78);
    expect(err.problems).toHaveLength(3);
    expect(err.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^concurrency: /), expect.stringMatching(/^approval\.deadline: /), 'escalation.team: "tier2" is not one of the configured teams']),
    );
    // One line: the CLI prints it as its one error line.
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`configuration (${file}): 3 problems: `);
    for (const p of err.problems) expect(err.message).toContain(p);
  });

  it('the environment, the file and the checks across keys are reported together; a key that does not parse raises no follow-on problem', () => {
    const file = configFile({ surprise: 1, teams: 'billing', escalation: { team: 'tier2' }, categories: ['billing'], autonomy: { rules: [{ category: 'refund', level: 'auto' }] } });
    const err = failure(() => loadConfig({ env: { REDIS_URL: 'not a url', MAILROOM_PREFIX: 'no-hash-tag', OPENAI_TIMEOUT_MS: 'soon' }, configPath: file, withoutSecrets: true }));
    const keys = err.problems.map((p) => p.split(':')[0]);
    expect(keys).toEqual(expect.arrayContaining(['MAILROOM_PREFIX', 'OPENAI_TIMEOUT_MS', 'surprise', 'teams', 'REDIS_URL must be a URL such as redis', 'autonomy.rules.0']));
    // `teams` did not parse: whether tier2 is one of them is not known, so it is not reported.
    expect(err.problems.some((p) => p.startsWith('escalation.team'))).toBe(false);
    expect(err.problems).toHaveLength(6);
  });

  it('an unreadable file is reported with the environment\'s problems', () => {
    const err = failure(() => loadConfig({ env: { MAILROOM_LOG_LEVEL: 'loud' }, configPath: '/nonexistent/mailroom.json' }));
    expect(err.problems).toEqual([expect.stringMatching(/^MAILROOM_LOG_LEVEL: /), 'config file /nonexistent/mailroom.json cannot be read (ENOENT)']);
  });
});

describe('the loaded configuration is frozen', () => {
  it('changing it anywhere throws (ES modules run in strict mode)', () => {
    const config: Config = loadConfig({ env: {}, cwd: '/tmp', configPath: configFile({ teams: [{ name: 'billing', address: 'billing@acme.example' }] }) });
    expect(() => {
      config.concurrency = 1;
    }).toThrow(TypeError);
    expect(() => {
      config.limits.maxAttachments = 1;
    }).toThrow(TypeError);
    expect(() => config.teams.push({ name: 'x', address: 'x@acme.example' })).toThrow(TypeError);
    expect(() => {
      config.verification.ourAddresses[0] = 'attacker@evil.example';
    }).toThrow(TypeError);
    expect(Object.isFrozen(config.teams[0])).toBe(true);
    // --shadow's copy is frozen too.
    const shadowed = inShadow(config);
    expect(() => {
      shadowed.shadow = false;
    }).toThrow(TypeError);
  });
});
