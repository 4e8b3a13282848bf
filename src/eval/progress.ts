/** A one-line progress bar on stderr for long runs (only on a terminal). */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ((done: number, total: number) => void) | undefined {
  if (!stream.isTTY) return undefined;
  const started = Date.now();
  let last = -1;
  return (done, total) => {
    if (done === last) return;
    last = done;
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    const secs = (Date.now() - started) / 1000;
    const eta = done ? Math.round((secs / done) * (total - done)) : 0;
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${done < total ? `eta ${eta}s ` : ''}`);
    if (done === total) stream.write('\n');
  };
}
