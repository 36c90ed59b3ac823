import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExpectationFailedError } from '../src/core/errors.js';
import { probeHttp } from '../src/probes/http.js';

async function serve(body: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => response.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

test('the body pattern is matched against the whole body, all its lines', async (t) => {
  const { url, server } = await serve('<h1>It works</h1>\nserved by nginx\n');
  t.teardown(() => server.close());
  t.is((await probeHttp(url, { body: /works<\/h1>\nserved by (\w+)/ }, { timeoutMs: 5000 })).status, 200);
});

test('a body pattern too slow for the body fails the probe at once, naming the pattern, instead of hanging', async (t) => {
  const { url, server } = await serve(`${'a'.repeat(40)}c`);
  t.teardown(() => server.close());
  // A backreference keeps it off V8's linear engine: only the time bound stops it.
  const error = await t.throwsAsync(probeHttp(url, { body: /^(a+)+\1b$/ }, { timeoutMs: 60_000 }), {
    instanceOf: ExpectationFailedError,
  });
  t.regex(error!.message, /^http body pattern \/\^\(a\+\)\+\\1b\$\/ took over 250 ms/);
});
