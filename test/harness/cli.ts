import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The CLI as users run it (bin/mailroom.js: the Node version check, tsx, the warning filter). */
export const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mailroom ARGS` in a child process with only PATH, HOME and `env`, and answers its exit
 * code and output (a non-zero exit is a result, not a throw).
 */
export async function runMailroom(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: { nodeArgs?: readonly string[]; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      timeout: options.timeoutMs ?? 60_000,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
