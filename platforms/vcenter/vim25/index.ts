// A small typed vim25 (vSphere SOAP) client: what lkrun needs to run a VM on
// vCenter, and no more.
export * from './client.js';
export * from './datastore-files.js';
export * from './faults.js';
export * from './inventory.js';
export * from './property-collector.js';
export * from './tasks.js';
export * from './vm.js';
export * from './vm-spec.js';
export * from './xml.js';
