/* Moments web page: resumable upload (tus), live progress (SSE), the reel and why. */
"use strict";

const API = "/api/v1";
const KEY_STORE = "moments.apiKey";
const params = new URLSearchParams(location.search);
// Smaller chunks mean less to resend after a drop; tests pass ?chunkSize= to force many.
const CHUNK_SIZE = Number(params.get("chunkSize")) || 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 2000, 3000, 5000, 8000, 10000, 15000, 20000, 30000];
const STAGES = ["queued", "probe", "analyse", "select", "render", "saving"];

const $ = (id) => document.getElementById(id);
const state = { file: null, upload: null, events: null, jobId: null, token: null, poll: null };

// -- talking to the API -------------------------------------------------------------------

function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** fetch() with the stored credential; a 401 asks for a key once and tries again. */
async function api(path, options = {}, retried = false) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...authHeaders(), ...(options.headers || {}) },
  });
  if (response.status === 401 && !retried && (await askForKey())) {
    return api(path, options, true);
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not a problem document */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

/** A URL that <video>, <img> and EventSource can load: they cannot send headers, so when
 * signed in we add a short-lived access token (never the API key itself). */
async function mediaUrl(path) {
  if (!apiKey()) return path;
  const now = Date.now();
  if (!state.token || state.token.until < now) {
    try {
      const body = await api(`${API}/auth/token`, { method: "POST" });
      const seconds = body.expires_in || 300;
      state.token = { value: body.access_token, until: now + (seconds - 30) * 1000 };
    } catch (_) {
      return path; // this server has no tokens: plain URLs work
    }
  }
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(state.token.value)}`;
}

function askForKey() {
  const dialog = $("key-dialog");
  $("key-input").value = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = $("key-input").value.trim();
      if (dialog.returnValue === "save" && value) {
        localStorage.setItem(KEY_STORE, value);
        state.token = null;
        $("key-button").hidden = false;
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
  });
}

// -- small view helpers -------------------------------------------------------------------

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function setBar(id, percent) {
  const p = Math.max(0, Math.min(100, percent));
  $(`${id}-fill`).style.width = `${p}%`;
  $(`${id}-bar`).setAttribute("aria-valuenow", String(Math.round(p)));
}

// -- choosing a file ----------------------------------------------------------------------

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  $("dz-main").textContent = file.name;
  $("dz-sub").textContent = bytes(file.size);
  $("dropzone").classList.add("chosen");
  $("start").disabled = false;
}

function wireForm() {
  const zone = $("dropzone");
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    chooseFile(e.dataTransfer.files[0]);
  });
  const duration = $("duration");
  const show = () => { $("duration-out").textContent = `${duration.value} s`; };
  duration.addEventListener("input", show);
  show();
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (state.file) startUpload(state.file);
  });
  $("upload-cancel").addEventListener("click", cancelUpload);
  $("new-video").addEventListener("click", resetForm);
  $("refresh-jobs").addEventListener("click", loadJobs);
  $("key-button").hidden = !apiKey();
  $("key-button").addEventListener("click", askForKey);
}

async function loadFormats() {
  try {
    const formats = await api(`${API}/upload/formats`);
    const duration = $("duration");
    if (formats.max_duration) duration.max = String(formats.max_duration);
    if (formats.default_duration) duration.value = String(formats.default_duration);
    duration.dispatchEvent(new Event("input"));
  } catch (_) { /* the defaults in the page are fine */ }
}

// -- uploading (tus: survives dropped connections and page reloads) ------------------------

function startUpload(file) {
  const aspect = document.querySelector("input[name=aspect]:checked").value;
  $("start").disabled = true;
  $("upload-panel").hidden = false;
  $("upload-name").textContent = file.name;
  $("upload-state").textContent = "Starting upload…";
  setBar("upload", 0);
  const upload = new tus.Upload(file, {
    endpoint: `${API}/uploads/`,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    metadata: {
      filename: file.name,
      filetype: file.type || "application/octet-stream",
      duration: $("duration").value,
      aspect,
    },
    onBeforeRequest: (req) => {
      const headers = authHeaders();
      Object.entries(headers).forEach(([k, v]) => req.setHeader(k, v));
    },
    // tus-js-client gives up at once while the browser says it is offline; we keep trying
    // (network errors, 5xx, 409 offset races, 423 busy) and let the 'online' event help.
    onShouldRetry: (err) => {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      const retry = status === 0 || status >= 500 || status === 409 || status === 423;
      if (retry) showPaused();
      return retry;
    },
    onProgress: (sent, total) => {
      const percent = (sent / total) * 100;
      setBar("upload", percent);
      $("upload-bar").classList.remove("paused");
      $("upload-percent").textContent = `${Math.floor(percent)}%`;
      $("upload-bytes").textContent = `${bytes(sent)} of ${bytes(total)}`;
      $("upload-state").textContent = "Uploading…";
    },
    onError: (err) => {
      if (!navigator.onLine && state.upload === upload) {
        showPaused(); // the 'online' listener in start() picks it up again
        return;
      }
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      let detail = String(err.message || err);
      try {
        detail = JSON.parse(err.originalResponse.getBody()).detail || detail;
      } catch (_) { /* keep the client's message */ }
      $("upload-state").textContent = status ? detail : `Upload failed: ${detail}`;
      $("upload-bar").classList.add("paused");
      $("start").disabled = false;
      state.upload = null;
    },
    onSuccess: (payload) => {
      const res = payload && payload.lastResponse;
      const jobId = res && res.getHeader("Moments-Job-Id");
      $("upload-state").textContent = "Uploaded";
      setBar("upload", 100);
      $("upload-percent").textContent = "100%";
      state.upload = null;
      if (jobId) {
        openJob(jobId);
        loadJobs();
      } else {
        $("upload-state").textContent = "Uploaded, but the server did not name the job.";
      }
    },
  });
  state.upload = upload;
  // Pick up where an earlier attempt at this same file stopped (e.g. the tab was closed).
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function showPaused() {
  $("upload-state").textContent = navigator.onLine
    ? "Connection interrupted — resuming…"
    : "You are offline — the upload resumes when you are back.";
  $("upload-bar").classList.add("paused");
}

function cancelUpload() {
  if (state.upload) {
    state.upload.abort(true).catch(() => {});
    state.upload = null;
  }
  $("upload-panel").hidden = true;
  $("start").disabled = !state.file;
}

function resetForm() {
  $("upload-form").reset();
  state.file = null;
  $("dz-main").innerHTML = 'Choose a video <span class="muted">or drop it here</span>';
  $("dz-sub").textContent = "MP4, MOV, MKV or WebM";
  $("dropzone").classList.remove("chosen");
  $("start").disabled = true;
  $("upload-panel").hidden = true;
  loadFormats();
  $("make").scrollIntoView({ behavior: "smooth" });
}

// -- following a job ----------------------------------------------------------------------

async function openJob(jobId) {
  stopWatching();
  state.jobId = jobId;
  history.replaceState(null, "", `#job=${jobId}`);
  const card = $("job");
  card.hidden = false;
  card.dataset.jobId = jobId;
  $("result").hidden = true;
  $("job-error").hidden = true;
  $("job-progress").hidden = false;
  try {
    const detail = await api(`${API}/jobs/${jobId}`);
    $("job-title").textContent = detail.filename || "Your reel";
    showStatus(detail);
    if (detail.status === "completed") return showResult(detail);
    if (["pending", "processing"].includes(detail.status)) watch(jobId);
  } catch (err) {
    showStatus({ status: "failed", error: err.message, progress: 0, message: "" });
  }
  card.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function watch(jobId) {
  const url = await mediaUrl(`${API}/jobs/${jobId}/events`);
  if (state.jobId !== jobId) return;
  const events = new EventSource(url);
  state.events = events;
  events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  events.addEventListener("end", async (e) => {
    stopWatching();
    const last = JSON.parse(e.data);
    showStatus(last);
    if (last.status === "completed") showResult(await api(`${API}/jobs/${jobId}`));
    loadJobs();
  });
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED && state.jobId === jobId) {
      // The stream was refused (e.g. expired token): fall back to asking now and then.
      stopWatching();
      state.poll = setInterval(async () => {
        const s = await api(`${API}/jobs/${jobId}/status`).catch(() => null);
        if (!s) return;
        showStatus(s);
        if (!["pending", "processing"].includes(s.status)) {
          stopWatching();
          if (s.status === "completed") showResult(await api(`${API}/jobs/${jobId}`));
        }
      }, 2000);
    }
  };
}

function stopWatching() {
  if (state.events) state.events.close();
  if (state.poll) clearInterval(state.poll);
  state.events = null;
  state.poll = null;
}

function showStatus(s) {
  const card = $("job");
  card.dataset.status = s.status;
  const badge = $("job-badge");
  badge.textContent = s.status;
  badge.className = `badge ${s.status}`;
  setBar("job", s.status === "completed" ? 100 : s.progress || 0);
  $("job-message").textContent = s.message || "";
  $("job-eta").textContent = s.eta_seconds != null && s.status === "processing"
    ? `about ${clock(s.eta_seconds)} left` : "";
  const current = s.status === "pending" ? "queued" : s.stage;
  const at = s.status === "completed" ? STAGES.length : STAGES.indexOf(current);
  document.querySelectorAll("#stages li").forEach((li, i) => {
    li.classList.toggle("done", i < at);
    li.classList.toggle("active", i === at);
  });
  if (s.status === "failed" || s.status === "cancelled") {
    $("job-error").hidden = false;
    $("job-error").textContent = s.error || (s.status === "cancelled" ? "This job was cancelled." : "It failed.");
    $("job-progress").hidden = true;
  }
}

async function showResult(detail) {
  $("job-progress").hidden = true;
  $("result").hidden = false;
  const video = $("reel");
  const [src, poster] = await Promise.all([
    mediaUrl(detail.links.download),
    detail.links.poster ? mediaUrl(detail.links.poster) : Promise.resolve(""),
  ]);
  if (poster) video.poster = poster;
  video.src = src;
  $("download").href = src;
  drawTimeline(detail);
  $("job").dataset.status = "completed";
}

function drawTimeline(detail) {
  const total = (detail.input && detail.input.duration) || 0;
  const bar = $("timeline");
  bar.replaceChildren();
  const segments = detail.segments || [];
  const reel = detail.reel ? detail.reel.duration : segments.reduce((a, s) => a + s.duration, 0);
  $("timeline-caption").textContent =
    `${segments.length} moment${segments.length === 1 ? "" : "s"} from ${clock(total)} of video, ` +
    `${clock(reel)} in the reel.`;
  $("timeline-end").textContent = clock(total);
  // When the reel differs from what was asked (shorter, say), the engine says why.
  const notes = detail.notes || [];
  $("reel-notes").textContent = notes.join(" ");
  $("reel-notes").hidden = notes.length === 0;
  segments.forEach((seg, i) => {
    const block = document.createElement("button");
    block.type = "button";
    block.className = "segment";
    block.style.left = `${(seg.source_start / total) * 100}%`;
    block.style.width = `${((seg.source_end - seg.source_start) / total) * 100}%`;
    const label = `${clock(seg.source_start)}–${clock(seg.source_end)}: ${seg.reason || "chosen"}`;
    block.title = label;
    block.setAttribute("aria-label", label);
    const show = () => showSegment(seg, i, block);
    block.addEventListener("mouseenter", show);
    block.addEventListener("focus", show);
    block.addEventListener("click", () => {
      show();
      $("reel").currentTime = seg.output_start; // jump to this moment in the reel
    });
    bar.appendChild(block);
  });
}

function showSegment(seg, i, block) {
  document.querySelectorAll(".segment.selected").forEach((b) => b.classList.remove("selected"));
  block.classList.add("selected");
  const box = $("segment-detail");
  box.replaceChildren();
  const title = document.createElement("div");
  title.innerHTML = `<strong></strong> <span class="num"></span>`;
  // The reason is already the words a person uses ("someone talking, a face close up"); the
  // raw signal scores stay in the API for those who want them.
  const why = seg.reason || "chosen";
  title.querySelector("strong").textContent =
    `Moment ${i + 1}: ${why.charAt(0).toUpperCase()}${why.slice(1)}`;
  title.querySelector("span").textContent = `${clock(seg.source_start)}–${clock(seg.source_end)}`;
  box.appendChild(title);
}

// -- past jobs ----------------------------------------------------------------------------

async function loadJobs() {
  let page;
  try {
    page = await api(`${API}/jobs?limit=20`);
  } catch (err) {
    $("jobs-empty").hidden = false;
    $("jobs-empty").textContent = `Could not load your reels: ${err.message}`;
    return;
  }
  const list = $("jobs");
  list.replaceChildren();
  $("jobs-empty").hidden = page.items.length > 0;
  for (const job of page.items) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.jobId = job.id;
    const thumb = document.createElement("span");
    thumb.className = "thumb";
    if (job.links.poster) {
      mediaUrl(job.links.poster).then((url) => { thumb.style.backgroundImage = `url("${url}")`; });
    }
    const meta = document.createElement("span");
    meta.className = "job-meta";
    const name = document.createElement("span");
    name.className = "ellipsis";
    name.textContent = job.filename || "Untitled video";
    const when = document.createElement("span");
    when.className = "muted small";
    when.textContent = new Date(job.created_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    meta.append(name, when);
    const badge = document.createElement("span");
    badge.className = `badge ${job.status}`;
    badge.textContent = job.status === "processing" ? `${Math.round(job.progress)}%` : job.status;
    button.append(thumb, meta, badge);
    button.addEventListener("click", () => openJob(job.id));
    li.appendChild(button);
    list.appendChild(li);
  }
}

// -- start --------------------------------------------------------------------------------

function start() {
  wireForm();
  loadFormats();
  loadJobs();
  const match = location.hash.match(/job=([0-9a-f]+)/);
  if (match) openJob(match[1]);
  window.addEventListener("offline", () => { if (state.upload) showPaused(); });
  // Back online: do not sit out the rest of a retry delay; ask the server where to go on.
  window.addEventListener("online", () => {
    const upload = state.upload;
    if (upload) upload.abort(false).then(() => { if (state.upload === upload) upload.start(); });
  });
}

document.addEventListener("DOMContentLoaded", start);
