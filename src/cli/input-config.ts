import { statSync } from 'node:fs';
import path from 'node:path';
import { MailroomError } from '../errors.js';

/** The config file `mailroom process` looks for beside its input when none is given. */
export const INPUT_CONFIG_NAME = 'mailroom.config.json';

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The config that travels with `process`'s input, for a run given no `--config` (nor
 * MAILROOM_CONFIG): a `mailroom.config.json` at the top of a folder given, or in the folder of a
 * file given. So `mailroom process examples/` runs on the examples' own config, as `demo` does,
 * and a folder of mail that carries its config needs no flag. Only those folders are looked in
 * (not their parents, not their subfolders). Inputs that carry different configs are refused
 * rather than one being picked; none found: undefined (the built-in defaults).
 */
export function configBesideInputs(paths: readonly string[]): string | undefined {
  const found = new Set<string>();
  for (const p of paths) {
    const folder = isFolder(p) ? p : path.dirname(p);
    const candidate = path.resolve(folder, INPUT_CONFIG_NAME);
    if (isFile(candidate)) found.add(candidate);
  }
  if (found.size > 1) {
    throw new MailroomError(
      'CONFIG_INVALID',
      `the inputs carry different configs (${[...found].map((f) => path.relative(process.cwd(), f) || f).join(', ')}): choose one with --config`,
    );
  }
  return [...found][0];
}
