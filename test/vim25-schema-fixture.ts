// Regenerates test/vim25-schema-order.json, the element orders the vim25
// client depends on, from govmomi's types.go (Debian's
// golang-github-vmware-govmomi-dev), so the order test also runs where that
// package is missing. Run after changing a request:
//   npx tsc -p . && node dist/test/vim25-schema-fixture.js
import { readFileSync, writeFileSync } from 'node:fs';
import { startFakeVcenter } from './vim25-fake-server.js';
import { exerciseClient } from './vim25-messages.js';
import { checkEnvelope, extractSchema, FIXTURE, subset, TYPES_GO } from './vim25-schema.js';

const schema = extractSchema(readFileSync(TYPES_GO, 'utf8'));
const fake = await startFakeVcenter();
try {
  await exerciseClient(fake);
} finally {
  await fake.close();
}
const used = new Set<string>();
for (const request of fake.requests) {
  if (!request.soapMethod) continue;
  const problems = checkEnvelope(schema, request.body.toString('utf8'), (type) => used.add(type));
  if (problems.length > 0) throw new Error(`${request.soapMethod} does not follow the schema:\n${problems.join('\n')}`);
}
const fixture = { source: 'govmomi vim25/types/types.go (golang-github-vmware-govmomi-dev)', ...subset(schema, used) };
writeFileSync(FIXTURE, JSON.stringify(fixture, null, 2) + '\n');
console.log(`${FIXTURE}: ${Object.keys(fixture.types).length} types, ${Object.keys(fixture.aliases).length} methods`);
