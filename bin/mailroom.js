#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=1024
// Runs the TypeScript sources through tsx, so a clone works without a build step. The shebang's
// V8 flags are bin/node-flags.json's (README, "Memory"); `node bin/mailroom.js` runs without them.
import process from 'node:process';

// mailauth and commander need Node 22.19+; on an older Node they fail deep inside an import.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`mailroom: Node.js 22.19 or newer is needed, this is ${process.version} (see the README's Quick start)\n`);
  process.exit(1);
}
// Node 22 warns on stderr that node:sqlite (the history store) is experimental; Node 24 does not.
// stderr is where a user reads one error line, so that warning alone is dropped; others print.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && w.message.includes('SQLite')) return;
  for (const print of printWarning) print(w);
});

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
