// The house in layers (docs/architecture.md, "Layers"): every folder of src sits in one layer and
// imports only from the layers below it. Type imports count: a type is a dependency too. Folders
// on one line are peers and do not import each other. `npm run lint` runs this after eslint.

/** Bottom to top. */
const LAYERS = [
  ['kernel'], // errors, ids, logger, secrets: nothing of Mailroom
  ['model'], // schemas and closed vocabularies: the trusted view, plans, labels, verdicts
  ['config'], // the config and what it names (IMAP, SMTP, OAuth2, Redis targets)
  ['queues', 'llm', 'oauth'], // infrastructure: Redis and BullMQ, the LLM gateway, token sources
  ['mail'], // IMAP and SMTP clients, header syntax, our own DKIM check
  ['store', 'audit'], // what Redis holds for a run; the ledger and the audit trail
  ['history'], // the history store (SQLite or PostgreSQL) emails move to at rest
  ['tools'], // one module per tool, and the services they run with
  ['services'], // the interface of the services app/ builds (types only)
  ['ingest', 'planner'], // the stages: read mail into the trusted view; plan from that view
  ['executor'], // runs plans: arguments, effects, review records, shadow previews
  ['run'], // an email's life: transitions and the handler of every queue
  ['app', 'report'], // builds the services and starts workers; the report over ledger and history
  ['sources', 'web'], // IMAP intake; Bull Board, the review and report pages
  ['daemon', 'eval'], // the long-running process; the injection eval
  ['cli'], // the command line
];

const folders = LAYERS.flat();
const rankOf = Object.fromEntries(LAYERS.flatMap((layer, rank) => layer.map((folder) => [folder, rank])));
const alt = (names) => `(${names.join('|')})`;
const inLayer = `^src/${alt(folders)}/`;

/** For each folder: no import of a folder at its own rank (a peer) or above. */
const upward = folders.flatMap((folder) => {
  const notBelow = folders.filter((other) => other !== folder && rankOf[other] >= rankOf[folder]);
  if (notBelow.length === 0) return [];
  return [
    {
      name: `layers: ${folder}`,
      comment: `src/${folder} may import only the layers below it (${
        LAYERS.slice(0, rankOf[folder])
          .map((l) => l.join('/'))
          .join(', ') || 'none'
      }).`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: `^src/${alt(notBelow)}/` },
    },
  ];
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle, type imports included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    // A module outside the layer folders: one that imports, one that is imported, one alone.
    ...[
      { from: { path: '^src/', pathNot: inLayer }, to: {} },
      { from: { path: '^src/' }, to: { path: '^src/', pathNot: inLayer } },
      { from: { path: '^src/', pathNot: inLayer, orphan: true }, to: {} },
    ].map((ends) => ({
      name: 'in-a-layer',
      comment: `Every module of src lives in a layer folder: ${folders.join(', ')}.`,
      severity: 'error',
      ...ends,
    })),
    ...upward,
  ],
  options: {
    // Type-only imports are dependencies too: a layer that names a type of a higher one is upside down.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    includeOnly: '^src/',
  },
};

// For the docs test (test/layers.test.ts); not an option of dependency-cruiser's.
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
