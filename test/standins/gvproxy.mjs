// Stand-in for gvproxy (tests only): takes the flags lkrun passes, binds the
// unixgram socket vfkit would connect to (through python3: Node has no unix
// datagram sockets), and serves the forwarder API on the -listen socket,
// recording each request where STANDIN_EVENTS points.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { event } from './guest.mjs';

const KNOWN = new Set(['-listen-vfkit', '-listen', '-pid-file', '-ssh-port', '-debug', '-mtu']);
const o = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (!KNOWN.has(argv[i])) {
    process.stderr.write(`flag provided but not defined: ${argv[i]}\nUsage of gvproxy:\n`);
    process.exit(2);
  }
  o[argv[i]] = argv[i] === '-debug' ? true : argv[++i];
}
const vfkit = /^unixgram:\/\/(\/.+)$/.exec(o['-listen-vfkit'] ?? '');
const api = /^unix:\/\/(\/.+)$/.exec(o['-listen'] ?? '');
if (!vfkit || !api) {
  process.stderr.write('gvproxy stand-in: needs -listen-vfkit unixgram://PATH and -listen unix://PATH\n');
  process.exit(1);
}
event(`started ${argv.join(' ')}`);
if (o['-pid-file']) writeFileSync(o['-pid-file'], String(process.pid));
spawn(
  'python3',
  ['-c', 'import socket,sys,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); time.sleep(1e9)', vfkit[1]],
  {
    stdio: 'ignore',
  },
);
createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    event(`${req.method} ${req.url} ${body}`);
    const ok = req.method === 'POST' && (req.url === '/services/forwarder/expose' || req.url === '/services/forwarder/unexpose');
    res.writeHead(ok ? 200 : 404);
    res.end();
  });
}).listen(api[1]);
process.on('SIGTERM', () => {
  event('sigterm');
  process.exit(0);
});
