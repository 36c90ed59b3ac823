// Opens a local HTML file in headless Chromium and reports what a reader would
// see: the result of a script evaluated in the page, every console error and
// uncaught exception, and a full-page screenshot. Talks the DevTools protocol
// over --remote-debugging-pipe (NUL-terminated JSON on fds 3 and 4), which
// needs no WebSocket client and no port.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { findInPath } from '../../src/core/find-in-path.js';

export const CHROMIUM = ['chromium', 'chromium-browser', 'google-chrome'].map(findInPath).find(Boolean);

export interface PageReport<T> {
  value: T;
  /** console.error/assert calls, uncaught exceptions and browser log errors (failed loads, CSP, …). */
  errors: string[];
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/**
 * Loads `file`, waits for the load event, evaluates `expression` (its value
 * returned by value) and writes a PNG of the whole page to `screenshot`.
 */
export async function inspectPage<T>(
  file: string,
  expression: string,
  options: { screenshot: string; width?: number; timeoutMs?: number },
): Promise<PageReport<T>> {
  if (!CHROMIUM) throw new Error('chromium not found in PATH');
  const profile = mkdtempSync(join(tmpdir(), 'lkrun-chromium-'));
  const browser = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox', // tests run as root in CI
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    // Its own process group, so that its helper processes die with it.
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
  );
  let stderr = '';
  browser.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const toBrowser = browser.stdio[3] as Writable;
  const fromBrowser = browser.stdio[4] as Readable;

  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  const listeners: ((m: Message) => void)[] = [];
  let nextId = 1;
  let buffered = '';
  fromBrowser.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`DevTools: ${message.error.message}`));
        else waiter?.resolve(message.result ?? {});
      } else for (const listener of listeners) listener(message);
    }
  });
  const exited = new Promise<never>((_, reject) =>
    browser.once('exit', (code) => reject(new Error(`chromium exited (${code}) before the page was inspected: ${stderr.slice(-2000)}`))),
  );
  exited.catch(() => {}); // only raced below
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    Promise.race([
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
      }),
      exited,
    ]);

  const timeout = setTimeout(() => browser.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = (method: string, params: Record<string, unknown> = {}) => send(method, params, sessionId);

    const errors: string[] = [];
    let loaded!: () => void;
    const load = new Promise<void>((resolve) => (loaded = resolve));
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      const p = m.params ?? {};
      if (m.method === 'Page.loadEventFired') loaded();
      if (m.method === 'Runtime.exceptionThrown') {
        const details = p.exceptionDetails as { text: string; exception?: { description?: string } };
        errors.push(`exception: ${details.exception?.description ?? details.text}`);
      }
      if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
        errors.push(
          `console.${String(p.type)}: ${(p.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description).join(' ')}`,
        );
      }
      if (m.method === 'Log.entryAdded') {
        const entry = p.entry as { level: string; text: string; url?: string };
        if (entry.level === 'error') errors.push(`log: ${entry.text}${entry.url ? ` (${entry.url})` : ''}`);
      }
    });
    await page('Page.enable');
    await page('Runtime.enable');
    await page('Log.enable');
    await page('Emulation.setDeviceMetricsOverride', { width: options.width ?? 1280, height: 800, deviceScaleFactor: 1, mobile: false });
    await page('Page.navigate', { url: pathToFileURL(file).href });
    await load;
    const evaluated = (await page('Runtime.evaluate', { expression, returnByValue: true })) as {
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (evaluated.exceptionDetails) {
      throw new Error(
        `the inspecting script failed: ${evaluated.exceptionDetails.exception?.description ?? evaluated.exceptionDetails.text}`,
      );
    }
    const shot = (await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    writeFileSync(options.screenshot, Buffer.from(shot.data, 'base64'));
    return { value: evaluated.result.value, errors };
  } finally {
    clearTimeout(timeout);
    toBrowser.end();
    const exited = new Promise((resolve) =>
      browser.exitCode !== null || browser.signalCode !== null ? resolve(undefined) : browser.once('exit', resolve),
    );
    try {
      process.kill(-browser.pid!, 'SIGKILL');
    } catch {
      browser.kill('SIGKILL');
    }
    await exited;
    await removeProfile(profile);
  }
}

/**
 * A helper process may still be writing into the profile for a moment:
 * rmSync's own retries only repeat the last rmdir, so the whole removal is retried.
 */
async function removeProfile(profile: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      rmSync(profile, { recursive: true, force: true });
      return;
    } catch (error) {
      if (attempt >= 30) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
