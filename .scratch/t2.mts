import { parseEmail } from '/work/main/src/ingest/parse-email.ts';
for (const h of ['Subject : evil', 'subject:evil', 'SUBJECT:\tevil', 'Subject\t: evil', ' Subject: evil']) {
  const raw = Buffer.from(`${h}\r\nFrom: a@b.example\r\nSubject: good\r\nTo: x@y.example\r\n\r\nbody\r\n`);
  try { const p = await parseEmail(raw); console.log(JSON.stringify(h), '->', JSON.stringify(p.content.subject), JSON.stringify(p.facts.auth.counts)); } catch (e) { console.log(JSON.stringify(h), 'ERR', (e as Error).message); }
}
