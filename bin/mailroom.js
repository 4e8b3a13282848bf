#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so a clone works without a build step.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
