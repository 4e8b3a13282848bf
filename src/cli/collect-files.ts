import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { MailroomError } from '../kernel/errors.js';
import { looksLikeEmail } from '../ingest/peeks.js';

/** Every `.eml` file below a folder, sorted, skipping hidden folders (e.g. `.git`). */
function emlFilesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !entry.name.startsWith('.')) out.push(...emlFilesBelow(full));
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.eml')) out.push(full);
  }
  return out;
}

/** The first `bytes` bytes of a file (fewer when it is shorter). */
function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Expands the CLI's paths into message files: a folder gives the `.eml` files below it (sorted,
 * subfolders included); a file is taken as given but must look like an email.
 */
export function collectEmailFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new MailroomError('INPUT_NOT_FOUND', `${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const emls = emlFilesBelow(p);
      if (emls.length === 0) throw new MailroomError('INPUT_NOT_FOUND', `${p}: the folder holds no .eml files`);
      files.push(...emls);
    } else {
      let head: Buffer;
      try {
        // Only the start: a file of gigabytes is sized and quarantined later, never read whole.
        head = readHead(p, 8192);
      } catch (err) {
        throw new MailroomError('INPUT_NOT_FOUND', `${p}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (!looksLikeEmail(head)) throw new MailroomError('INPUT_NOT_EMAIL', `${p}: not an email message (no RFC 5322 header block)`);
      files.push(p);
    }
  }
  return [...new Set(files)];
}
