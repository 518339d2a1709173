// The web page of `i3d serve` in a real browser: Debian's chromium driven by playwright-core uploads a real video,
// and the page shows the top-5 bars and the per-window timeline (clicking a window seeks the player). A screenshot
// goes to test-output/serve-page/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startServer, type I3DServer } from '../src/serve/app.js';
import { ROOT } from './helpers.js';
import { LABELS, saveTinyModel } from './serve-fixtures.js';
import { assertNoFfmpegLeft, BOTTLE, tempDir } from './video-fixtures.js';

const CHROMIUM = process.env.I3D_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const OUT = join(ROOT, 'test-output', 'serve-page');
const tmp = tempDir('i3d-serve-page-');
let server: I3DServer;
let browser: Browser | undefined;

before(async () => {
  if (!CHROMIUM) return;
  server = await startServer({
    models: [{ name: 'tiny', source: saveTinyModel(tmp.dir) }],
    port: 0,
    size: 32,
    resize: 36,
    tmpDir: tmp.dir,
  });
  await server.loaded;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

after(async () => {
  await browser?.close();
  await server?.close();
  tmp.remove();
});

it(
  'uploads a real video on the page: top-5 bars, a timeline of windows that seeks the player, a screenshot',
  { skip: CHROMIUM ? false : 'chromium is not installed (scripts/setup.sh installs Debian chromium; or set I3D_CHROMIUM)' },
  async () => {
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('#model option[value="tiny"]', { state: 'attached' });
    // Keyboard: the drop zone's file input takes the focus.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'file');
    await page.setInputFiles('#file', BOTTLE);
    await page.waitForSelector('#bars li', { timeout: 60_000 });
    const bars = await page.$$eval('#bars li', (lis) => lis.map((li) => li.getAttribute('aria-label') ?? ''));
    assert.equal(bars.length, 5);
    for (const b of bars)
      assert.ok(
        LABELS.some((l) => b.startsWith(`${l}: `)),
        b,
      );
    const widths = await page.$$eval('#bars .fill', (fs) => fs.map((f) => f.getBoundingClientRect().width));
    assert.ok(
      widths.every((w, i) => i === 0 || w <= widths[i - 1]! + 0.5),
      `bars in decreasing order: ${widths.join(', ')}`,
    );
    assert.ok(widths[0]! > 0);
    // The 40 s video gets a timeline of windows (3 s each).
    await page.waitForSelector('#timeline:not([hidden]) button');
    const windows = await page.$$eval('#timeline button', (bs) => bs.map((b) => Number(b.getAttribute('data-start'))));
    assert.ok(windows.length >= 8, `${windows.length} windows`);
    await page.click('#timeline button:nth-child(5)');
    await page.waitForFunction(`Math.abs(document.getElementById('player').currentTime - ${windows[4]!}) < 0.6`);
    assert.match((await page.textContent('#status')) ?? '', /bottle-detection\.mp4: /);
    assert.equal(await page.isHidden('#error'), true);
    mkdirSync(OUT, { recursive: true });
    const shot = join(OUT, 'page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    // A file that is not a video: a clear message.
    await page.setInputFiles('#file', { name: 'notes.mp4', mimeType: 'video/mp4', buffer: Buffer.from('not a video at all\n'.repeat(20)) });
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error')) ?? '', /not a video/);
    assert.deepEqual(errors, []);
    await page.close();
    assertNoFfmpegLeft();
  },
);
