import './helpers/isolate.js';
import test from 'ava';
import { redact, registerSecret } from '../src/core/redact.js';
import { errorLine } from '../src/core/errors.js';
import { PlatformError } from '../src/core/errors.js';

test('passwords in URLs never reach a printed line', (t) => {
  t.is(
    redact('cannot connect to https://admin:s3cr%40t@vc.example/sdk: refused'),
    'cannot connect to https://admin:***@vc.example/sdk: refused',
  );
  t.is(
    errorLine(new PlatformError('login failed for https://root:hunter2@10.0.0.1/sdk')),
    'lkrun: login failed for https://root:***@10.0.0.1/sdk',
  );
  t.is(redact('https://vc.example/sdk'), 'https://vc.example/sdk', 'URLs without credentials are untouched');
});

test('service-account keys and registered secrets are masked', (t) => {
  t.is(
    redact('{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"}'),
    '{"type":"service_account","private_key":"***"}',
  );
  t.is(redact('-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----'), '***private key***');
  registerSecret('tok-123456');
  t.is(redact('header Authorization: Bearer tok-123456 sent'), 'header Authorization: Bearer *** sent');
});
