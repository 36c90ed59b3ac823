// Stand-in for VPNKit (tests only): takes the options lkrun passes
// (--ethernet PATH --port PATH --vsock-path PATH), listens on the ethernet
// socket, and serves the HTTP forwarding API on the port socket, recording
// each expose/unexpose request where STANDIN_EVENTS points.
import { createServer as createHttp } from 'node:http';
import { createServer as createNet } from 'node:net';
import { event } from './guest.mjs';

const KNOWN = new Set(['--ethernet', '--port', '--vsock-path', '--debug']);
const o = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (!KNOWN.has(argv[i])) {
    process.stderr.write(`vpnkit: unknown option '${argv[i]}'.\nUsage: vpnkit [OPTION]...\n`);
    process.exit(124);
  }
  if (argv[i] === '--debug') continue;
  o[argv[i]] = argv[++i];
}
for (const need of ['--ethernet', '--port']) {
  if (!o[need]) {
    process.stderr.write(`vpnkit: required option ${need} is missing\n`);
    process.exit(124);
  }
}
event(`started ${argv.join(' ')}`);
createNet(() => {}).listen(o['--ethernet']);
createHttp((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    event(`${req.method} ${req.url} ${body}`);
    const ok =
      (req.method === 'PUT' && req.url === '/forwards/expose/port') || (req.method === 'DELETE' && req.url === '/forwards/unexpose/port');
    res.writeHead(ok ? 200 : 404);
    res.end();
  });
}).listen(o['--port']);
process.on('SIGTERM', () => {
  event('sigterm');
  process.exit(0);
});
