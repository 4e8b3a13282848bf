import { statSync } from 'node:fs';
import path from 'node:path';

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

/** Which config a `process` run without `--config` (nor MAILROOM_CONFIG) takes from beside its input. */
export interface BesideInputs {
  /** The bundled examples' config, when every input config found is it: used. */
  use?: string;
  /** Any other `mailroom.config.json` found beside the input: named, never loaded. */
  ignored: string[];
}

/**
 * A `mailroom.config.json` at the top of a folder given to `process`, or in the folder of a file
 * given. Only the bundled examples' own config (`trusted`) is taken from there, so that
 * `mailroom process examples/` runs on it as `demo` does. Any other is named and left alone: a
 * folder of mail is input, and whoever can drop a file among the messages (a maildir export, a
 * shared drop folder) must not thereby choose the SMTP relay, the webhooks or the autonomy rules.
 * Only those folders are looked in (not their parents, not their subfolders).
 */
export function configBesideInputs(paths: readonly string[], trusted: string): BesideInputs {
  const found = new Set<string>();
  for (const p of paths) {
    const folder = isFolder(p) ? p : path.dirname(p);
    const candidate = path.resolve(folder, INPUT_CONFIG_NAME);
    if (isFile(candidate)) found.add(candidate);
  }
  const bundled = path.resolve(trusted);
  const ignored = [...found].filter((f) => f !== bundled);
  return { ...(found.has(bundled) && !ignored.length ? { use: bundled } : {}), ignored };
}
