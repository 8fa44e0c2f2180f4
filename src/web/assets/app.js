// khappy's page: a gallery of faces, a picture with its boxes, statistics
// and uploads, over the JSON API (docs/API.md). Plain DOM, no framework and
// nothing fetched from elsewhere. Text from the server only ever goes into
// textContent or attributes, never into HTML.
'use strict';

const EMOTIONS = ['neutral', 'happiness', 'surprise', 'sadness', 'anger',
                  'disgust', 'fear', 'contempt'];
const POLL_MS = 1000;
const POLL_GIVE_UP_MS = 10 * 60 * 1000;
const PARALLEL_UPLOADS = 3;

// ---- small helpers --------------------------------------------------------

// h('a', {href: '#/'}, 'text', child) -> element. Attributes starting with
// "on" become listeners; booleans toggle; null/undefined are skipped.
function h(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'text', 'g', 'title', 'desc', 'line'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag)
                 : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function percent(p) {
  return `${Math.round(p * 100)}%`;
}

function capitalise(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// Present emotions of a face, highest first.
function ranked(emotions) {
  return Object.entries(emotions || {}).sort((a, b) => b[1] - a[1]);
}

function announce(text) {
  const a = document.getElementById('announcer');
  a.textContent = '';
  // A fresh text node is what screen readers notice.
  setTimeout(() => { a.textContent = text; }, 50);
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({headers: {Accept: 'application/json'}}, options));
  if (res.status === 204) return null;
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.error) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A bar per emotion: name, bar, value. The bar is decoration; the text
// says the same for screen readers.
function emotionBar(name, p, extraClass) {
  const fill = h('span', {class: `bar-fill emotion-${name}`});
  fill.style.width = percent(Math.max(0, Math.min(1, p)));
  return h('li', {class: `emotion ${extraClass || ''}`, 'data-emotion': name},
    h('span', {class: 'emotion-name'}, capitalise(name)),
    h('span', {class: 'bar', 'aria-hidden': 'true'}, fill),
    h('span', {class: 'emotion-value'}, percent(p)));
}

// ---- views ----------------------------------------------------------------

let viewToken = 0; // bumps on every navigation; stale async work checks it

function mainEl() {
  return document.getElementById('main');
}

function show(title, ...content) {
  const main = mainEl();
  const heading = h('h1', {id: 'view-title', tabindex: '-1'}, title);
  main.replaceChildren(heading, ...content);
  document.title = `${title} · khappy`;
  return heading;
}

function showError(title, err) {
  show(title, h('p', {class: 'error', role: 'alert'}, err.message));
}

// Gallery: faces newest first, each with its crop and top two emotions.
async function viewFaces(params, token) {
  const emotion = EMOTIONS.includes(params.get('emotion')) ? params.get('emotion') : '';
  const select = h('select', {id: 'emotion-filter', name: 'emotion'},
    h('option', {value: ''}, 'All emotions'),
    EMOTIONS.map((e) => h('option', {value: e, selected: e === emotion}, capitalise(e))));
  select.addEventListener('change', () => {
    location.hash = select.value ? `#/faces?emotion=${select.value}` : '#/';
  });
  const grid = h('ul', {class: 'face-grid', id: 'face-grid', 'aria-live': 'polite'});
  const status = h('p', {class: 'muted', id: 'gallery-status'}, 'Loading faces…');
  const more = h('button', {type: 'button', class: 'button', id: 'load-more', hidden: true},
    'Show more faces');
  show(emotion ? `Faces: ${emotion}` : 'Faces',
    h('form', {class: 'filters', onsubmit: (e) => e.preventDefault()},
      h('label', {for: 'emotion-filter'}, 'Show faces whose strongest emotion is'),
      select),
    status, grid, more);

  let cursor = null;
  let shown = 0;
  async function page() {
    if (shown > 0 && !cursor) return; // every page is shown already
    const query = new URLSearchParams({limit: '24'});
    if (emotion) query.set('emotion', emotion);
    if (cursor) query.set('cursor', cursor);
    more.disabled = true;
    let body;
    try {
      body = await api(`/api/faces?${query}`);
    } catch (err) {
      if (token === viewToken) status.replaceChildren(h('span', {class: 'error', role: 'alert'}, err.message));
      return;
    }
    if (token !== viewToken) return;
    for (const face of body.faces) grid.append(faceCard(face));
    shown += body.faces.length;
    cursor = body.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    status.textContent = shown === 0
      ? (emotion ? `No faces whose strongest emotion is ${emotion} yet.`
                 : 'No faces yet. Upload pictures to fill the gallery.')
      : `${shown} face${shown === 1 ? '' : 's'} shown${cursor ? ', more below' : ''}.`;
  }
  more.addEventListener('click', page);
  await page();
}

function faceCard(face) {
  const top = ranked(face.emotions).slice(0, 2);
  const summary = top.length
    ? top.map(([n, p]) => `${n} ${percent(p)}`).join(', ')
    : 'emotions not scored yet';
  const img = face.crop_url
    ? h('img', {src: face.crop_url, alt: `Face: ${summary}`, loading: 'lazy',
                width: 160, height: 160})
    : h('div', {class: 'no-crop', role: 'img', 'aria-label': `Face without a crop: ${summary}`}, '?');
  return h('li', {class: 'face-card', 'data-face-id': face.id,
                  'data-top-emotion': face.top_emotion || ''},
    h('a', {href: `#/picture/${encodeURIComponent(face.picture_id)}`, class: 'face-link',
            'aria-label': `Open the picture of this face (${summary})`},
      img),
    top.length
      ? h('ul', {class: 'emotions top-two'}, top.map(([n, p]) => emotionBar(n, p)))
      : h('p', {class: 'muted'}, 'Not scored yet'));
}

// Picture: the image with a box per face (SVG over the image, in the
// picture's own pixels) and each face's emotion bars.
async function viewPicture(id, token) {
  show('Picture', h('p', {class: 'muted'}, 'Loading…'));
  let picture;
  const started = Date.now();
  for (;;) {
    try {
      picture = await api(`/api/pictures/${encodeURIComponent(id)}`);
    } catch (err) {
      if (token === viewToken) showError('Picture', err);
      return;
    }
    if (token !== viewToken) return;
    renderPicture(picture);
    if (picture.status !== 'pending' || Date.now() - started > POLL_GIVE_UP_MS) return;
    await sleep(POLL_MS);
    if (token !== viewToken) return;
  }
}

function renderPicture(picture) {
  const title = picture.name || `Picture ${picture.id.slice(0, 8)}`;
  const faces = picture.faces || [];
  const stage = h('div', {class: 'stage'});
  const overlay = h('svg', {class: 'boxes', 'aria-hidden': 'true',
                            preserveAspectRatio: 'none'});
  function drawBoxes(width, height) {
    overlay.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const stroke = Math.max(2, Math.round(Math.max(width, height) / 300));
    overlay.replaceChildren(...faces.map((f, i) => h('g', {class: 'face-box-group', 'data-face-id': f.id},
      h('rect', {class: `face-box emotion-stroke-${f.top_emotion || 'none'}`,
                 x: f.box[0], y: f.box[1], width: f.box[2], height: f.box[3],
                 'stroke-width': stroke}),
      h('text', {class: 'face-number', x: f.box[0] + stroke, y: f.box[1] - stroke * 2,
                 'font-size': Math.max(12, stroke * 8)}, String(i + 1)))));
  }
  if (picture.image_url) {
    const faceWord = `${faces.length} face${faces.length === 1 ? '' : 's'}`;
    const img = h('img', {src: picture.image_url, class: 'picture',
                          alt: `${title}, ${faceWord} marked`});
    img.addEventListener('load', () => drawBoxes(picture.width || img.naturalWidth,
                                                 picture.height || img.naturalHeight));
    stage.append(img, overlay);
    if (picture.width && picture.height) drawBoxes(picture.width, picture.height);
  } else {
    stage.append(h('p', {class: 'muted'}, 'The image itself is not stored.'));
  }

  const statusText = picture.status === 'failed'
    ? `Failed: ${picture.error || 'unknown error'}`
    : picture.status === 'pending'
      ? `Being analysed… ${picture.scored_faces} of ${picture.expected_faces ?? '?'} faces done`
      : `${faces.length} face${faces.length === 1 ? '' : 's'} found`;
  const list = h('ol', {class: 'face-list', id: 'face-list'}, faces.map((f, i) => {
    const emotions = f.emotions || {};
    return h('li', {class: 'face-detail', 'data-face-id': f.id,
                    onmouseenter: () => highlight(f.id, true),
                    onmouseleave: () => highlight(f.id, false),
                    onfocusin: () => highlight(f.id, true),
                    onfocusout: () => highlight(f.id, false)},
      h('div', {class: 'face-detail-head'},
        f.crop_url ? h('img', {src: f.crop_url, alt: '', width: 64, height: 64, class: 'thumb'}) : null,
        h('h2', {}, `Face ${i + 1}`),
        h('p', {class: 'muted'}, `${f.detector}, confidence ${percent(f.score)}`)),
      Object.keys(emotions).length
        ? h('ul', {class: 'emotions all', tabindex: '0',
                   'aria-label': `Emotions of face ${i + 1}`},
            EMOTIONS.filter((e) => e in emotions).map((e) =>
              emotionBar(e, emotions[e], e === f.top_emotion ? 'top' : '')))
        : h('p', {class: 'muted'}, 'Not scored yet'));
  }));
  const del = h('button', {type: 'button', class: 'button danger', id: 'delete-picture'},
    'Delete this picture');
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${title} and its faces?`)) return;
    try {
      await api(`/api/pictures/${encodeURIComponent(picture.id)}`, {method: 'DELETE'});
      announce(`${title} deleted`);
      location.hash = '#/';
    } catch (err) {
      announce(`Could not delete: ${err.message}`);
    }
  });
  const heading = document.getElementById('view-title');
  const hadFocus = heading && document.activeElement === heading;
  const newHeading = show(title,
    h('p', {class: `status status-${picture.status}`, id: 'picture-status',
            role: picture.status === 'failed' ? 'alert' : null}, statusText),
    h('div', {class: 'picture-layout'}, stage,
      h('section', {'aria-label': 'Faces'}, faces.length ? list : null, del)));
  if (hadFocus) newHeading.focus();
}

function highlight(faceId, on) {
  for (const g of document.querySelectorAll('.face-box-group')) {
    if (g.getAttribute('data-face-id') === faceId) g.classList.toggle('active', on);
  }
}

// Statistics: how many faces have each emotion as their strongest, as a bar
// chart drawn here (SVG), with the same numbers in a table.
async function viewStats(token) {
  show('Statistics', h('p', {class: 'muted'}, 'Loading…'));
  let stats;
  try {
    stats = await api('/api/stats');
  } catch (err) {
    if (token === viewToken) showError('Statistics', err);
    return;
  }
  if (token !== viewToken) return;
  const counts = EMOTIONS.map((e) => stats.faces.by_emotion[e] || 0);
  const max = Math.max(1, ...counts);
  const W = 640, H = 320, left = 40, bottom = 60, top = 20;
  const slot = (W - left) / EMOTIONS.length;
  const plotH = H - bottom - top;
  const chart = h('svg', {class: 'chart', id: 'emotion-chart', viewBox: `0 0 ${W} ${H}`,
                          role: 'img', 'aria-labelledby': 'chart-title chart-desc'},
    h('title', {id: 'chart-title'}, 'Faces by strongest emotion'),
    h('desc', {id: 'chart-desc'},
      EMOTIONS.map((e, i) => `${e}: ${counts[i]}`).join(', ')),
    h('line', {class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom}),
    EMOTIONS.map((e, i) => {
      const barH = Math.round(plotH * counts[i] / max);
      const x = left + i * slot + slot * 0.15;
      return h('g', {class: 'chart-bar', 'data-emotion': e},
        h('rect', {class: `emotion-${e}`, x, y: H - bottom - barH, width: slot * 0.7,
                   height: barH}),
        h('text', {class: 'count', x: x + slot * 0.35, y: H - bottom - barH - 6,
                   'text-anchor': 'middle'}, String(counts[i])),
        h('text', {class: 'label', x: x + slot * 0.35, y: H - bottom + 18,
                   'text-anchor': 'middle'}, capitalise(e)));
    }));
  const table = h('table', {class: 'stats-table'},
    h('caption', {}, 'Faces by strongest emotion'),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Emotion'), h('th', {scope: 'col'}, 'Faces'))),
    h('tbody', {}, EMOTIONS.map((e, i) =>
      h('tr', {}, h('th', {scope: 'row'}, capitalise(e)), h('td', {}, String(counts[i]))))));
  const p = stats.pictures;
  show('Statistics',
    h('p', {class: 'totals'},
      `${p.total} picture${p.total === 1 ? '' : 's'} (${p.done} done, ${p.pending} pending, ` +
      `${p.failed} failed); ${stats.faces.total} face${stats.faces.total === 1 ? '' : 's'}` +
      (stats.faces.unscored ? `, ${stats.faces.unscored} not scored yet` : '') + '.'),
    h('figure', {class: 'chart-figure'}, chart),
    h('details', {}, h('summary', {}, 'The numbers as a table'), table));
}

// ---- uploads ----------------------------------------------------------------

// Kept across views: uploads go on while the person looks elsewhere.
const uploads = [];
let uploadsRunning = 0;
let uploadSeq = 0;

function viewUpload() {
  const input = h('input', {type: 'file', id: 'file-input', multiple: true,
                            accept: 'image/jpeg,image/png', class: 'visually-hidden'});
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });
  const zone = h('div', {class: 'drop-zone', id: 'drop-zone'},
    h('p', {}, 'Drop JPEG or PNG pictures here, or'),
    h('label', {for: 'file-input', class: 'button'}, 'Choose pictures…'),
    input);
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    addFiles(e.dataTransfer.files);
  });
  const list = h('ul', {class: 'upload-list', id: 'upload-list'});
  show('Upload pictures', zone, list);
  for (const u of uploads) list.append(u.el);
}

function addFiles(files) {
  for (const file of files) {
    const u = {seq: ++uploadSeq, file, status: 'queued', id: null};
    u.progress = h('progress', {max: 100, value: 0, 'aria-label': `Upload of ${file.name}`});
    u.state = h('span', {class: 'upload-state'}, 'Waiting…');
    u.result = h('div', {class: 'upload-result'});
    u.el = h('li', {class: 'upload-item', 'data-status': 'queued', 'data-name': file.name},
      h('span', {class: 'upload-name'}, file.name), u.progress, u.state, u.result);
    uploads.unshift(u);
    const list = document.getElementById('upload-list');
    if (list) list.prepend(u.el);
  }
  announce(`${files.length} picture${files.length === 1 ? '' : 's'} queued`);
  pumpUploads();
}

function setUploadStatus(u, status, text) {
  u.status = status;
  u.el.setAttribute('data-status', status);
  u.state.textContent = text;
}

function pumpUploads() {
  while (uploadsRunning < PARALLEL_UPLOADS) {
    const next = uploads.slice().reverse().find((u) => u.status === 'queued');
    if (!next) return;
    uploadsRunning++;
    runUpload(next).finally(() => {
      uploadsRunning--;
      pumpUploads();
    });
  }
}

function send(u) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/pictures?name=${encodeURIComponent(u.file.name)}`);
    xhr.setRequestHeader('Content-Type', u.file.type || 'application/octet-stream');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) u.progress.value = Math.round(100 * e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 202 && body && body.id) resolve(body.id);
      else reject(new Error((body && body.error) || `HTTP ${xhr.status}`));
    });
    xhr.addEventListener('error', () => reject(new Error('network error')));
    xhr.send(u.file);
  });
}

async function runUpload(u) {
  setUploadStatus(u, 'uploading', 'Uploading…');
  try {
    u.id = await send(u);
  } catch (err) {
    setUploadStatus(u, 'failed', `Upload refused: ${err.message}`);
    u.result.replaceChildren(h('p', {class: 'error', role: 'alert'}, `${u.file.name}: ${err.message}`));
    return;
  }
  u.progress.value = 100;
  setUploadStatus(u, 'pending', 'Analysing…');
  const started = Date.now();
  while (Date.now() - started < POLL_GIVE_UP_MS) {
    let picture;
    try {
      picture = await api(`/api/pictures/${encodeURIComponent(u.id)}`);
    } catch (err) {
      if (err.status === 404) {
        setUploadStatus(u, 'failed', 'The picture was deleted.');
        return;
      }
      await sleep(POLL_MS);
      continue;
    }
    if (picture.status === 'done') {
      const faces = picture.faces || [];
      setUploadStatus(u, 'done', `${faces.length} face${faces.length === 1 ? '' : 's'} found`);
      u.result.replaceChildren(
        h('a', {href: `#/picture/${encodeURIComponent(u.id)}`}, `Open ${u.file.name}`),
        faces.length ? h('ul', {class: 'upload-faces'}, faces.map((f) => {
          const top = ranked(f.emotions)[0];
          return h('li', {}, top ? `${capitalise(top[0])} ${percent(top[1])}` : 'not scored');
        })) : null);
      announce(`${u.file.name}: ${faces.length} faces found`);
      return;
    }
    if (picture.status === 'failed') {
      setUploadStatus(u, 'failed', 'Analysis failed');
      u.result.replaceChildren(h('p', {class: 'error', role: 'alert'},
        `${u.file.name}: ${picture.error || 'unknown error'}`));
      return;
    }
    u.state.textContent = `Analysing… ${picture.scored_faces} of ${picture.expected_faces ?? '?'} faces`;
    await sleep(POLL_MS);
  }
  setUploadStatus(u, 'failed', 'Gave up waiting for the analysis');
}

// ---- routing ----------------------------------------------------------------

function route() {
  const token = ++viewToken;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  let section = 'faces';
  let work;
  const picture = path.match(/^\/picture\/([A-Za-z0-9_-]{1,63})$/);
  if (picture) {
    section = null;
    work = viewPicture(picture[1], token);
  } else if (path === '/upload') {
    section = 'upload';
    work = Promise.resolve(viewUpload());
  } else if (path === '/stats') {
    section = 'stats';
    work = viewStats(token);
  } else {
    work = viewFaces(params, token);
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.getAttribute('data-nav') === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Move focus to the new view's heading after in-page navigation, so
  // keyboard and screen reader users land on what changed.
  const focusTitle = () => {
    const t = document.getElementById('view-title');
    if (t && token === viewToken && document.activeElement !== document.getElementById('emotion-filter')) t.focus();
  };
  if (route.started) work.then(focusTitle, focusTitle);
  route.started = true;
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', route);
