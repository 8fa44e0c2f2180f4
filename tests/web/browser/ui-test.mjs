// The web UI as a person uses it, in headless Chromium: upload pictures
// through the page, wait for their results, then check the gallery (every
// face, with emotions), the emotion filter, each picture's boxes and the
// statistics chart. Saves screenshots.
//
//   node ui-test.mjs URL PICTURE... [--expect-fail NAME]... [--screenshots DIR]
//       [--timeout-s N]
//
// A picture named with --expect-fail must end "failed" with its error shown;
// every other must end "done". Works against the fixture server
// (fixture-test.sh) and against `khappy serve` with the real pipeline.
// Prints "N passed, M failed" and exits non-zero on any failure.
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const EMOTIONS = ['neutral', 'happiness', 'surprise', 'sadness', 'anger',
                  'disgust', 'fear', 'contempt'];

const args = process.argv.slice(2);
const pictures = [];
const expectFail = new Set();
let baseUrl = null;
let shotsDir = 'screenshots';
let timeoutS = 300;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--expect-fail') expectFail.add(args[++i]);
  else if (args[i] === '--screenshots') shotsDir = args[++i];
  else if (args[i] === '--timeout-s') timeoutS = Number(args[++i]);
  else if (!baseUrl) baseUrl = args[i];
  else pictures.push(args[i]);
}
if (!baseUrl || pictures.length === 0) {
  console.error('usage: node ui-test.mjs URL PICTURE... [--expect-fail NAME] ' +
                '[--screenshots DIR] [--timeout-s N]');
  process.exit(2);
}
if (!baseUrl.endsWith('/')) baseUrl += '/';
fs.mkdirSync(shotsDir, {recursive: true});

let passed = 0;
let failed = 0;
function check(ok, what, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}

async function apiGet(page, route) {
  const res = await page.request.get(new URL(route, baseUrl).href);
  if (!res.ok()) throw new Error(`GET ${route}: HTTP ${res.status()}`);
  return res.json();
}

// Every face the API lists (all pages), optionally for one emotion.
async function allFaces(page, emotion) {
  const faces = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({limit: '100'});
    if (emotion) q.set('emotion', emotion);
    if (cursor) q.set('cursor', cursor);
    const body = await apiGet(page, `api/faces?${q}`);
    faces.push(...body.faces);
    cursor = body.next_cursor;
  } while (cursor);
  return faces;
}

// Clicks "Show more faces" until every page is shown.
async function showAllFaces(page) {
  await page.waitForFunction(() => {
    const s = document.getElementById('gallery-status');
    return s && !s.textContent.startsWith('Loading');
  });
  for (;;) {
    const more = page.locator('#load-more');
    if (!(await more.isVisible())) return;
    const before = await page.locator('.face-card').count();
    await more.click();
    await page.waitForFunction((n) => document.querySelectorAll('.face-card').length > n, before);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const consoleErrors = [];
try {
  const context = await browser.newContext({viewport: {width: 1200, height: 900}});
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  page.setDefaultTimeout(30000);

  // ---- upload through the page (file picker, several at once) ----
  await page.goto(`${baseUrl}#/upload`);
  await page.waitForSelector('#file-input', {state: 'attached'});
  await page.setInputFiles('#file-input', pictures);
  // And one more dropped on the drop zone, as a drag from the desktop does.
  const dropped = 'dropped-' + path.basename(pictures[0]);
  await page.evaluate(async ({name, base64, type}) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type}));
    const zone = document.getElementById('drop-zone');
    zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }, {name: dropped, base64: fs.readFileSync(pictures[0]).toString('base64'),
      type: pictures[0].endsWith('.png') ? 'image/png' : 'image/jpeg'});
  const names = [...pictures.map((p) => path.basename(p)), dropped];
  await page.waitForFunction((n) => document.querySelectorAll('.upload-item').length === n,
                             names.length);
  await page.screenshot({path: path.join(shotsDir, 'upload-progress.png')});
  await page.waitForFunction(
    () => [...document.querySelectorAll('.upload-item')]
      .every((li) => ['done', 'failed'].includes(li.getAttribute('data-status'))),
    null, {timeout: timeoutS * 1000, polling: 250});
  await page.screenshot({path: path.join(shotsDir, 'upload-done.png'), fullPage: true});

  const items = await page.$$eval('.upload-item', (lis) => lis.map((li) => ({
    name: li.getAttribute('data-name'),
    status: li.getAttribute('data-status'),
    href: li.querySelector('.upload-result a')?.getAttribute('href') || null,
    alert: li.querySelector('[role="alert"]')?.textContent || null,
  })));
  const ids = [];
  for (const name of names) {
    const item = items.find((it) => it.name === name);
    if (expectFail.has(name) || expectFail.has(name.replace(/^dropped-/, ''))) {
      check(item && item.status === 'failed' && item.alert && item.alert.length > name.length + 2,
            `${name} is shown as failed with its error`, JSON.stringify(item));
    } else {
      check(item && item.status === 'done' && item.href, `${name} was analysed`,
            JSON.stringify(item));
      if (item && item.href) ids.push(decodeURIComponent(item.href.replace('#/picture/', '')));
    }
  }

  // ---- the gallery: every face, each with its top emotions ----
  const uploaded = [];
  for (const id of ids) uploaded.push(await apiGet(page, `api/pictures/${id}`));
  const apiFaces = await allFaces(page, null);
  await page.goto(`${baseUrl}#/`);
  await showAllFaces(page);
  const cards = await page.$$eval('.face-card', (els) => els.map((el) => ({
    id: el.getAttribute('data-face-id'),
    top: el.getAttribute('data-top-emotion'),
    emotions: [...el.querySelectorAll('.emotion')].map((e) => e.getAttribute('data-emotion')),
    img: el.querySelector('img') ? {alt: el.querySelector('img').alt,
                                    loaded: el.querySelector('img').naturalWidth > 0} : null,
  })));
  check(cards.length === apiFaces.length, 'the gallery shows every face',
        `${cards.length} cards, ${apiFaces.length} faces`);
  let uploadedFaces = 0;
  for (const picture of uploaded) {
    for (const face of picture.faces) {
      uploadedFaces++;
      const card = cards.find((c) => c.id === face.id);
      const wanted = Math.min(2, Object.keys(face.emotions).length);
      check(card && card.emotions.length === wanted && wanted > 0 &&
            card.emotions[0] === face.top_emotion,
            `face ${face.id.slice(0, 8)} of ${picture.name} shows its top emotions`,
            JSON.stringify(card));
    }
  }
  check(uploadedFaces > 0, 'the uploaded pictures have faces', `${uploadedFaces}`);
  check(cards.every((c) => !c.img || c.img.alt.length > 0), 'every crop has alt text');
  await page.screenshot({path: path.join(shotsDir, 'gallery.png')});

  // ---- the filter ----
  const emotion = uploaded.flatMap((p) => p.faces).map((f) => f.top_emotion).find(Boolean) ||
                  EMOTIONS.find((e) => cards.some((c) => c.top === e));
  await page.selectOption('#emotion-filter', emotion);
  await page.waitForFunction((e) => location.hash === `#/faces?emotion=${e}`, emotion);
  await showAllFaces(page);
  const filtered = await page.$$eval('.face-card', (els) => els.map((el) => el.getAttribute('data-top-emotion')));
  const apiFiltered = await allFaces(page, emotion);
  check(filtered.length === apiFiltered.length && filtered.length > 0 &&
        filtered.every((t) => t === emotion),
        `the filter shows only the ${apiFiltered.length} faces whose top emotion is ${emotion}`,
        JSON.stringify(filtered));
  await page.screenshot({path: path.join(shotsDir, `gallery-${emotion}.png`)});

  // ---- each picture's page: one box per face ----
  for (const picture of uploaded) {
    await page.goto(`${baseUrl}#/picture/${picture.id}`);
    await page.waitForSelector('#picture-status');
    await page.waitForFunction(() => {
      const img = document.querySelector('.stage img');
      return !img || img.complete;
    });
    await page.waitForFunction((n) => document.querySelectorAll('svg.boxes rect.face-box').length === n,
                               picture.faces.length).catch(() => {});
    const boxes = await page.locator('svg.boxes rect.face-box').count();
    const bars = await page.locator('.face-detail').count();
    check(boxes === picture.faces.length && bars === picture.faces.length,
          `${picture.name}: ${picture.faces.length} boxes drawn and listed`,
          `${boxes} boxes, ${bars} listed`);
    const imgOk = await page.$eval('.stage img', (img) => img.naturalWidth > 0 && img.alt.length > 0)
      .catch(() => false);
    check(imgOk, `${picture.name}: the picture loads and has alt text`);
  }
  if (uploaded.length) {
    await page.goto(`${baseUrl}#/picture/${uploaded[0].id}`);
    await page.waitForSelector('svg.boxes rect.face-box');
    await page.screenshot({path: path.join(shotsDir, 'picture.png')});
  }

  // ---- statistics ----
  await page.goto(`${baseUrl}#/stats`);
  await page.waitForSelector('#emotion-chart');
  const stats = await apiGet(page, 'api/stats');
  const bars = await page.$$eval('#emotion-chart .chart-bar', (gs) => gs.map((g) => ({
    emotion: g.getAttribute('data-emotion'),
    count: Number(g.querySelector('text.count').textContent),
  })));
  check(bars.length === 8 && bars.every((b) => stats.faces.by_emotion[b.emotion] === b.count),
        'the chart shows the count of every emotion', JSON.stringify(bars));
  await page.screenshot({path: path.join(shotsDir, 'stats.png')});

  // ---- keyboard: the navigation is reachable and shows focus ----
  // A fresh load: in-page navigation moves focus to the new heading instead.
  await page.goto(`${baseUrl}#/`);
  await page.reload();
  await page.waitForSelector('#view-title');
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => ({
    cls: document.activeElement?.className,
    outline: getComputedStyle(document.activeElement).outlineStyle,
  }));
  check(skip.cls === 'skip-link' && skip.outline !== 'none',
        'Tab first reaches the skip link, with a visible focus ring', JSON.stringify(skip));
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const nav = await page.evaluate(() => document.activeElement?.textContent);
  check(nav === 'Faces', 'then the navigation', nav);

  // ---- a phone ----
  const phone = await browser.newContext({viewport: {width: 390, height: 844}, isMobile: true,
                                          deviceScaleFactor: 2});
  const phonePage = await phone.newPage();
  await phonePage.goto(`${baseUrl}#/`);
  await phonePage.waitForSelector('.face-card');
  const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  check(!overflow, 'the gallery fits a phone without sideways scrolling');
  await phonePage.screenshot({path: path.join(shotsDir, 'phone-gallery.png')});
  if (uploaded.length) {
    await phonePage.goto(`${baseUrl}#/picture/${uploaded[0].id}`);
    await phonePage.waitForSelector('#picture-status');
    await phonePage.screenshot({path: path.join(shotsDir, 'phone-picture.png')});
  }
  await phone.close();

  check(consoleErrors.length === 0, 'no errors in the browser console', consoleErrors.join(' | '));
} catch (err) {
  check(false, 'the test ran to its end', err && err.stack ? err.stack : String(err));
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
