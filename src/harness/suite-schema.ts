// The JSON Schemas a suite file is checked against: one for the file, one per
// step kind. Kept as data so the README can point at one place.
import { MAX_PATTERN_CHARS } from '../core/patterns.js';

const duration = { type: ['string', 'number'], pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)?$' } as const;
// Patterns are bounded in size so matching stays fast (src/core/patterns.ts).
const regex = { type: 'string', maxLength: MAX_PATTERN_CHARS, format: 'regex' } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const common = { name: { type: 'string' }, timeout: duration } as const;

export const STEP_SCHEMAS = {
  expect: {
    properties: { ...common, expect: regex },
  },
  exec: {
    properties: { ...common, exec: { type: 'string', minLength: 1 }, 'expect-output': regex, 'exit-code': { type: 'integer' } },
  },
  'wait-until': {
    properties: { ...common, 'wait-until': { type: 'string', minLength: 1 }, interval: duration },
  },
  tcp: {
    properties: { ...common, tcp: port },
  },
  ntp: {
    properties: { ...common, ntp: port, synced: { type: 'boolean' } },
  },
  http: {
    properties: {
      ...common,
      http: { type: ['integer', 'string'] },
      path: { type: 'string', pattern: '^/' },
      status: { type: 'integer', minimum: 100, maximum: 599 },
      body: regex,
    },
  },
  send: {
    properties: { ...common, send: { type: 'string' } },
  },
  host: {
    properties: { ...common, host: { type: 'string', minLength: 1 } },
  },
  poweroff: {
    properties: {
      ...common,
      poweroff: { type: ['boolean', 'null', 'object'], properties: { grace: duration }, additionalProperties: false },
    },
  },
} as const;

export type StepKind = keyof typeof STEP_SCHEMAS;
export const STEP_KINDS = Object.keys(STEP_SCHEMAS) as StepKind[];

export const SUITE_SCHEMA = {
  type: 'object',
  required: ['image', 'steps'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    image: {
      oneOf: [
        { type: 'string', minLength: 1 },
        {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          properties: { x86_64: { type: 'string' }, aarch64: { type: 'string' } },
        },
      ],
    },
    targets: {
      type: 'array',
      minItems: 1,
      items: {
        oneOf: [
          { type: 'string', pattern: '^[a-z0-9-]+(/(x86_64|aarch64))?$' },
          {
            type: 'object',
            required: ['platform'],
            additionalProperties: false,
            properties: {
              platform: { type: 'string' },
              arch: { enum: ['x86_64', 'aarch64'] },
              // This target's own image, taking precedence over the top-level one (a GCE disk beside QEMU's kernel+initrd).
              image: { type: 'string', minLength: 1 },
              options: { type: 'object' },
            },
          },
        ],
      },
    },
    publish: { type: 'array', items: { type: 'string', pattern: '^(\\d+:)?\\d+(/(tcp|udp))?$' } },
    data: { type: 'string' },
    cpus: { type: 'integer', minimum: 1 },
    mem: { type: ['integer', 'string'] },
    timeout: duration,
    'stall-timeout': duration,
    'fail-on': { type: 'array', items: regex },
    'snapshot-at': regex,
    'snapshot-sync-clock': { type: 'boolean' },
    steps: { type: 'array', minItems: 1, items: { type: 'object' } },
  },
} as const;
