// Entry of the parse worker thread (see parse-isolated.ts). Loader hooks that tsx registered in the
// main thread do not carry over into a worker, so the worker registers tsx itself before loading
// the TypeScript module. Plain JavaScript on purpose: it must load before any loader exists.
import { register } from 'tsx/esm/api';

register();
await import('./parse-thread.ts');
