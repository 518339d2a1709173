// The page of `i3d serve`: upload a video to /v1/predict (raw body, with progress), play it, show the top-5 classes
// as bars and, for longer videos, a timeline of per-window predictions (activate a window to seek). No dependencies.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const model = $('model'),
    file = $('file'),
    drop = $('drop'),
    statusEl = $('status'),
    progress = $('progress');
  const errorEl = $('error'),
    result = $('result'),
    player = $('player'),
    timeline = $('timeline'),
    bars = $('bars'),
    meta = $('meta');
  const keyRow = $('keyrow'),
    key = $('key');
  let maxUpload = 0;
  let busy = false;
  const COLORS = ['#2a6df4', '#e4572e', '#17a398', '#f3a712', '#8e44ad', '#c0392b', '#16a085', '#d35400', '#2c3e50', '#7f8c8d'];

  const headers = () => (key.value ? { authorization: `Bearer ${key.value}` } : {});
  const mib = (n) => `${(n / 1048576).toFixed(n < 10485760 ? 1 : 0)} MiB`;
  const showError = (msg) => {
    errorEl.textContent = msg;
    errorEl.hidden = !msg;
  };
  const setStatus = (msg) => (statusEl.textContent = msg);

  function explain(status, body, retryAfter) {
    const detail = body && body.error ? ` (${body.error})` : '';
    if (status === 413) return `The video is too large: this server takes at most ${maxUpload ? mib(maxUpload) : 'its upload limit'}.`;
    if (status === 415) return `That file is not a video this server can read${detail}.`;
    if (status === 422) return `The video is over the server's limits${detail}.`;
    if (status === 429) return `The server is busy; try again in ${retryAfter || 'a few'} s.`;
    if (status === 503) return `The server is not ready (starting or shutting down); try again in ${retryAfter || 'a few'} s.`;
    if (status === 504) return `The video took too long to process${detail}.`;
    if (status === 401) {
      keyRow.hidden = false;
      return 'This server needs an API key: enter it above, then choose the video again.';
    }
    if (status === 0) return 'The server cannot be reached.';
    return `The server could not classify the video: ${status}${detail}.`;
  }

  async function loadModels() {
    try {
      const r = await fetch('/v1/models', { headers: headers() });
      const body = await r.json().catch(() => null);
      if (!r.ok) return showError(explain(r.status, body, r.headers.get('retry-after')));
      maxUpload = body.maxUploadBytes;
      model.replaceChildren(
        ...body.models.map((m) => {
          const o = document.createElement('option');
          o.value = m.name;
          o.textContent = `${m.name} (${m.classes} classes)`;
          return o;
        }),
      );
      showError('');
    } catch {
      showError(explain(0));
    }
  }

  /** Seconds of the video, from the browser (0 when it cannot play the format). */
  function durationOf(url) {
    return new Promise((resolve) => {
      player.onloadedmetadata = () => resolve(Number.isFinite(player.duration) ? player.duration : 0);
      player.onerror = () => resolve(0);
      player.src = url;
      setTimeout(() => resolve(0), 3000);
    });
  }

  async function classify(f) {
    if (!f || busy) return;
    showError('');
    if (maxUpload && f.size > maxUpload) return showError(explain(413));
    busy = true;
    const url = URL.createObjectURL(f);
    result.hidden = false;
    timeline.hidden = true;
    bars.replaceChildren();
    meta.textContent = '';
    const duration = await durationOf(url);
    // Longer videos: one prediction per window, about a dozen windows of 1-4 s.
    const windowSec = duration > 4 ? Math.min(4, Math.max(1, Math.round(duration / 12))) : 0;
    const q = new URLSearchParams({ model: model.value, top: '5' });
    if (windowSec) q.set('window', String(windowSec));
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/predict?${q}`);
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', f.type && /^video\//.test(f.type) ? f.type : 'application/octet-stream');
    progress.hidden = false;
    progress.value = 0;
    setStatus(`Uploading ${f.name}…`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress.value = e.loaded / e.total;
    };
    xhr.upload.onload = () => setStatus(`Classifying ${f.name}…`);
    xhr.onloadend = () => {
      busy = false;
      progress.hidden = true;
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null; // not JSON: explained by the status
      }
      if (xhr.status !== 200 || !body) {
        setStatus('');
        return showError(explain(xhr.status, body, xhr.getResponseHeader('retry-after')));
      }
      render(body);
      setStatus(`${f.name}: ${body.top[0].label} (${(100 * body.top[0].probability).toFixed(1)}%)`);
    };
    xhr.send(f);
  }

  function render(r) {
    bars.replaceChildren(
      ...r.top.map((t) => {
        const li = document.createElement('li');
        const pct = `${(100 * t.probability).toFixed(1)}%`;
        li.setAttribute('aria-label', `${t.label}: ${pct}`);
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = t.label;
        label.title = t.label;
        const track = document.createElement('span');
        track.className = 'track';
        const fill = document.createElement('span');
        fill.className = 'fill';
        fill.style.display = 'block';
        fill.style.width = `${Math.max(0.5, 100 * t.probability)}%`;
        track.append(fill);
        const p = document.createElement('span');
        p.className = 'pct';
        p.textContent = pct;
        li.append(label, track, p);
        return li;
      }),
    );
    const t = r.timings;
    meta.textContent = `${r.durationSec.toFixed(1)} s of video · model ${r.model} · upload ${t.uploadSec.toFixed(2)} s, decode ${t.decodeSec.toFixed(2)} s, queue ${t.queueSec.toFixed(2)} s, model ${t.modelSec.toFixed(2)} s`;
    if (r.windows && r.windows.length > 1) {
      const color = new Map();
      timeline.replaceChildren(
        ...r.windows.map((w) => {
          const b = document.createElement('button');
          b.type = 'button';
          const top = w.top[0];
          if (!color.has(top.index)) color.set(top.index, COLORS[color.size % COLORS.length]);
          b.style.background = color.get(top.index);
          b.textContent = top.label;
          b.title = `${w.start.toFixed(1)}–${w.end.toFixed(1)} s: ${top.label} (${(100 * top.probability).toFixed(0)}%)`;
          b.setAttribute('aria-label', b.title);
          b.dataset.start = String(w.start);
          b.dataset.end = String(w.end);
          b.onclick = () => {
            player.currentTime = w.start;
            void player.play().catch(() => {});
          };
          return b;
        }),
      );
      timeline.hidden = false;
    }
  }

  player.ontimeupdate = () => {
    for (const b of timeline.children)
      b.classList.toggle('current', player.currentTime >= +b.dataset.start && player.currentTime < +b.dataset.end);
  };
  file.onchange = () => classify(file.files[0]);
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      file.click();
    }
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    classify(e.dataTransfer.files[0]);
  });
  key.addEventListener('change', loadModels);
  void loadModels();
})();
