import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { MailroomError } from './errors.js';

/** Where a secret comes from: an environment variable (read once at start) or a file (read when it is used). */
export const SecretSource = z.union([
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name') }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretSource = z.infer<typeof SecretSource>;

/** A secret as the running daemon holds it: a value read from the environment, or a file to read when used. */
export const ResolvedSecret = z.union([
  z.object({ value: z.string().min(1), env: z.string().optional() }),
  z.object({ file: z.string() }),
]);
export type ResolvedSecret = z.infer<typeof ResolvedSecret>;

/**
 * Resolves a config file's secret: an env variable is read now (a missing one is added to
 * `problems` as `where: …`), a file path is made absolute against `base` and read later.
 */
export function resolveSecret(
  source: SecretSource,
  env: Record<string, string | undefined>,
  base: string,
  where: string,
  problems: string[],
): ResolvedSecret {
  if ('file' in source) return { file: path.resolve(base, source.file) };
  const value = env[source.env];
  if (!value) {
    problems.push(`${where}: environment variable ${source.env} is not set`);
    return { value: 'missing', env: source.env };
  }
  return { value, env: source.env };
}

/** Reads a secret: env values were read at start; files are re-read at every use (rotation). */
export async function readSecret(secret: ResolvedSecret): Promise<string> {
  if ('value' in secret) return secret.value;
  try {
    const text = (await readFile(secret.file, 'utf8')).trim();
    if (!text) throw new Error('empty');
    return text;
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'empty';
    throw new MailroomError('CONFIG_INVALID', `secret file ${secret.file} cannot be read (${reason})`, { cause: err });
  }
}

/**
 * Writes a secret file atomically with mode 0600: a temp file beside it, then a rename, so a
 * reader (another Mailroom process, a crash halfway) sees the old secret or the new one, never half.
 */
export async function writeSecretFile(file: string, value: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, `${value}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'error';
    throw new MailroomError('CONFIG_INVALID', `secret file ${file} cannot be written (${reason})`, { cause: err });
  }
}
