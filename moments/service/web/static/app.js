/* Moments web page: resumable upload (tus), live progress (SSE), the reel and why. */
"use strict";

const API = "/api/v1";
const KEY_STORE = "moments.apiKey";
const params = new URLSearchParams(location.search);
// Smaller chunks mean less to resend after a drop; tests pass ?chunkSize= to force many.
const CHUNK_SIZE = Number(params.get("chunkSize")) || 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 2000, 3000, 5000, 8000, 10000, 15000, 20000, 30000];
const STAGES = ["queued", "probe", "analyse", "select", "render", "saving"];
const STAGE_WORDS = {
  queued: "Queued", probe: "Reading", analyse: "Finding moments", select: "Choosing",
  render: "Cutting", saving: "Saving",
};
const RUNNING = ["pending", "processing"];

const $ = (id) => document.getElementById(id);
const state = {
  file: null, upload: null, events: null, jobId: null, token: null, poll: null, listTimer: null,
};
// How this server signs people in (GET /web/sign-in): in local mode, where the key file is.
const signIn = { mode: "", keyFile: "", asking: null };

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
  if (response.status === 401) {
    if (!retried && (await askForKey())) return api(path, options, true);
    const err = new Error(apiKey()
      ? "Your API key was not accepted. Sign in again with a current key."
      : "You are not signed in.");
    err.signIn = true;
    throw err;
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

// -- signing in ----------------------------------------------------------------------------

/** Opens the sign-in dialog; resolves true once a key the server accepts is saved. Closing
 * it (Escape, "Not now") resolves false; the "Sign in" button brings it back at any time. */
function askForKey() {
  if (signIn.asking) return signIn.asking;
  const dialog = $("key-dialog");
  $("key-input").value = "";
  $("key-error").hidden = true;
  dialog.returnValue = "";
  dialog.showModal();
  signIn.asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      signIn.asking = null;
      resolve(dialog.returnValue === "saved");
    }, { once: true });
  });
  return signIn.asking;
}

function keyError(text) {
  $("key-error").textContent = text;
  $("key-error").hidden = false;
  $("key-input").focus();
}

/** A key is saved only once the server says who it belongs to (GET /me). */
async function checkKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) return keyError("Paste your API key first.");
  $("key-save").disabled = true;
  $("key-error").hidden = true;
  let response = null;
  try {
    response = await fetch(`${API}/me`, {
      headers: { Accept: "application/json", Authorization: `Bearer ${key}` },
    });
  } catch (_) { /* unreachable: said below */ }
  $("key-save").disabled = false;
  if (!response) {
    return keyError("Moments could not be reached. Check that it is running, then try again.");
  }
  if (response.status === 401) {
    return keyError("That key was not accepted. Check that you copied all of it, then try again.");
  }
  if (!response.ok) return keyError("The key could not be checked just now. Try again in a moment.");
  localStorage.setItem(KEY_STORE, key);
  state.token = null;
  showKeyButton();
  $("key-dialog").close("saved");
  toast("You are signed in.");
  loadJobs();
}

function showKeyButton() {
  $("key-button").textContent = apiKey() ? "Change API key" : "Sign in";
}

async function loadSignIn() {
  try {
    const response = await fetch("/web/sign-in", { headers: { Accept: "application/json" } });
    if (response.ok) {
      const body = await response.json();
      signIn.mode = body.mode || "";
      signIn.keyFile = body.key_file || "";
    }
  } catch (_) { /* the dialog's general words do */ }
  $("key-file").textContent = signIn.keyFile;
  $("key-where").hidden = !signIn.keyFile;
  if (signIn.mode === "accounts") {
    $("key-help").textContent = "Paste an API key from your account to see your reels and make new ones.";
  }
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

function badgeText(s) {
  if (s.status === "processing") {
    const word = STAGE_WORDS[s.stage];
    return `${word ? `${word} ` : ""}${Math.round(s.progress || 0)}%`;
  }
  return { pending: "Queued", completed: "Done" }[s.status] || s.status;
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
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  dropArea($("dropzone"), (files) => chooseFile(files[0]));
  const duration = $("duration");
  const show = () => { $("duration-out").textContent = `${duration.value} s`; };
  duration.addEventListener("input", show);
  show();
  $("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!state.file) return;
    if (!apiKey() && !(await askForKey())) return; // every upload belongs to someone
    startUpload(state.file);
  });
  $("upload-cancel").addEventListener("click", cancelUpload);
  $("new-video").addEventListener("click", resetForm);
  $("refresh-jobs").addEventListener("click", loadJobs);
  $("job-cancel").addEventListener("click", cancelJob);
  $("job-delete").addEventListener("click", deleteJob);
  document.querySelectorAll("#recut button").forEach((b) => b.addEventListener("click", () => recut(b)));
  showKeyButton();
  $("key-button").addEventListener("click", askForKey);
  $("key-form").addEventListener("submit", checkKey);
  $("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));
}

async function loadFormats() {
  try {
    const formats = await api(`${API}/upload/formats`);
    const duration = $("duration");
    if (formats.max_duration) duration.max = String(formats.max_duration);
    // The server's default only while the page's own still stands: a length chosen before
    // this answer came (a slow server, a quick hand) is kept.
    if (formats.default_duration && duration.value === duration.defaultValue) {
      duration.value = String(formats.default_duration);
    }
    duration.dispatchEvent(new Event("input"));
    if (Array.isArray(formats.resolutions)) {
      // Sizes this server does not make are shown, not offered.
      document.querySelectorAll("#resolution option").forEach((o) => {
        o.disabled = !formats.resolutions.includes(o.value);
      });
    }
  } catch (_) { /* the defaults in the page are fine */ }
}

// -- uploading (tus: survives dropped connections and page reloads) ------------------------

// The reel's shape, codec, HDR and size as chosen on the page (one upload or many clips).
function reelChoices() {
  return {
    aspect: document.querySelector("input[name=aspect]:checked").value,
    codec: $("codec").value,
    hdr: $("hdr").value,
    resolution: $("resolution").value,
  };
}

function startUpload(file) {
  $("start").disabled = true;
  $("upload-panel").hidden = false;
  $("upload-name").textContent = file.name;
  $("upload-state").textContent = "Starting upload…";
  $("upload-error").hidden = true;
  $("upload-bar").classList.remove("paused", "failed");
  $("upload-bar").removeAttribute("aria-valuetext");
  $("upload-percent").textContent = "0%";
  $("upload-bytes").textContent = "";
  $("upload-cancel").hidden = false;
  setBar("upload", 0);
  // On a phone the panel opens below the button: bring it up so the progress is seen.
  $("upload-panel").scrollIntoView({ behavior: "smooth", block: "nearest" });
  const upload = new tus.Upload(file, {
    endpoint: `${API}/uploads/`,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    metadata: {
      filename: file.name,
      filetype: file.type || "application/octet-stream",
      duration: $("duration").value,
      ...reelChoices(),
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
      // Every byte sent: the server now checks it is a video it can read.
      $("upload-state").textContent = sent < total ? "Uploading…" : "Checking the video…";
    },
    onError: (err) => {
      if (!navigator.onLine && state.upload === upload) {
        showPaused(); // the 'online' listener in start() picks it up again
        return;
      }
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      let detail = "";
      try {
        detail = JSON.parse(err.originalResponse.getBody()).detail || "";
      } catch (_) { /* no problem document: say it in our words below */ }
      if (status === 401) {
        detail = "You are not signed in. Sign in, then press “Make my reel” again.";
        askForKey();
      } else if (!status || !detail) {
        detail = "The upload could not finish. Check your connection, then press “Make my reel” to try again.";
      }
      showUploadError(status && status !== 401 ? "Refused" : "Not sent", detail);
      state.upload = null;
    },
    onSuccess: (payload) => {
      const res = payload && payload.lastResponse;
      const jobId = res && res.getHeader("Moments-Job-Id");
      $("upload-state").textContent = "Uploaded";
      setBar("upload", 100);
      $("upload-percent").textContent = "100%";
      $("upload-cancel").hidden = true; // the job card has its own stop button
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

/** A refused or failed upload: red, with an icon, announced; the bar never reads 100%. */
function showUploadError(word, detail) {
  const bar = $("upload-bar");
  bar.classList.remove("paused");
  bar.classList.add("failed");
  bar.setAttribute("aria-valuetext", word);
  $("upload-percent").textContent = word;
  $("upload-state").textContent = "";
  $("upload-bytes").textContent = "";
  $("upload-error").textContent = detail;
  $("upload-error").hidden = false;
  $("upload-cancel").hidden = true;
  $("start").disabled = !state.file;
  $("upload-error").scrollIntoView({ behavior: "smooth", block: "nearest" });
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

/** "Make another": a fresh file, the same length and shape, the old reel out of the way. */
function resetForm() {
  $("file").value = "";
  state.file = null;
  $("dz-main").innerHTML = 'Choose a video <span class="muted">or drop it here</span>';
  $("dz-sub").textContent = "MP4, MOV, MKV or WebM";
  $("dropzone").classList.remove("chosen");
  $("start").disabled = true;
  $("upload-panel").hidden = true;
  closeJob();
  $("make").scrollIntoView({ behavior: "smooth" });
  $("file").focus({ preventScroll: true });
}

function closeJob() {
  stopWatching();
  state.jobId = null;
  const video = $("reel");
  video.pause();
  video.removeAttribute("src");
  video.removeAttribute("poster");
  $("job").hidden = true;
  history.replaceState(null, "", location.pathname + location.search);
}

/** Stop a queued or running job (DELETE cancels it; the card then says so). */
async function cancelJob() {
  const jobId = state.jobId;
  if (!jobId) return;
  $("job-cancel").disabled = true;
  try {
    const s = await api(`${API}/jobs/${jobId}`, { method: "DELETE" });
    if (s) {
      stopWatching();
      showStatus(s);
      toast("Stopped. Nothing was made.");
    } else { // it finished just before: the server deleted it as asked
      closeJob();
      toast("It had just finished, and is deleted.");
    }
  } catch (err) {
    toast(`Could not stop it: ${err.message}`);
  } finally {
    $("job-cancel").disabled = false;
  }
  loadJobs();
}

/** Delete a finished (or failed, or stopped) job and its reel for good. */
async function deleteJob() {
  const jobId = state.jobId;
  if (!jobId) return;
  const what = $("job").dataset.status === "completed" ? "this reel" : "this entry";
  if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
  try {
    await api(`${API}/jobs/${jobId}`, { method: "DELETE" });
  } catch (err) {
    toast(`Could not delete it: ${err.message}`);
    return;
  }
  if (state.jobId === jobId) closeJob();
  toast("Deleted.");
  loadJobs();
}

/** "Make it 15 s / 60 s / 9:16": a new reel of the same video from its kept analysis (no
 * upload, no analysis); the card then follows the new job. */
async function recut(button) {
  const jobId = state.jobId;
  if (!jobId) return;
  const change = button.dataset.duration
    ? { duration: Number(button.dataset.duration) } : { aspect: button.dataset.aspect };
  document.querySelectorAll("#recut button").forEach((b) => { b.disabled = true; });
  try {
    const job = await api(`${API}/jobs/${jobId}/recut`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    });
    toast(`Making it ${button.dataset.duration ? `${button.dataset.duration} s` : button.dataset.aspect}…`);
    await openJob(job.id);
    loadJobs();
  } catch (err) {
    toast(`Could not re-cut it: ${err.message}`);
  } finally {
    document.querySelectorAll("#recut button").forEach((b) => { b.disabled = false; });
  }
}

/** The re-cut buttons of a finished reel, less the one it already is. */
function showRecut(detail) {
  const options = detail.options || {};
  document.querySelectorAll("#recut button").forEach((b) => {
    b.hidden = b.dataset.duration
      ? Number(b.dataset.duration) === Number(options.duration)
      : b.dataset.aspect === options.aspect;
  });
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
    if (detail.status === "completed") await showResult(detail);
    if (RUNNING.includes(detail.status)) watch(jobId);
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
  badge.textContent = badgeText(s);
  badge.className = `badge ${s.status}`;
  // The same job in the list says the same thing.
  const listed = document.querySelector(`#jobs button[data-job-id="${card.dataset.jobId}"] .badge`);
  if (listed) {
    listed.textContent = badge.textContent;
    listed.className = badge.className;
  }
  const running = RUNNING.includes(s.status);
  $("job-cancel").hidden = !running;
  $("job-delete").hidden = running;
  $("job-delete").textContent = s.status === "completed" ? "Delete reel" : "Delete";
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
    $("job-error").textContent = s.status === "cancelled"
      ? "You stopped this one, so no reel was made."
      : s.error || "Something went wrong, and no reel was made.";
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
  showRecut(detail);
  $("job").dataset.status = "completed";
  // The finished reel in view, whole, without the person scrolling to find it.
  $("job").scrollIntoView({ behavior: "smooth", block: "start" });
}

function drawTimeline(detail) {
  // A reel of many clips: the clips side by side, in reel order, each moment on its own clip.
  const clips = detail.clips || [];
  const starts = [];
  clips.reduce((at, c) => { starts.push(at); return at + c.duration; }, 0);
  const total = clips.length
    ? clips.reduce((a, c) => a + c.duration, 0)
    : (detail.input && detail.input.duration) || 0;
  const bar = $("timeline");
  bar.replaceChildren();
  const segments = detail.segments || [];
  const reel = detail.reel ? detail.reel.duration : segments.reduce((a, s) => a + s.duration, 0);
  const inClips = clips.length ? ` in ${clips.length} clip${clips.length === 1 ? "" : "s"}` : "";
  $("timeline-caption").textContent =
    `${segments.length} moment${segments.length === 1 ? "" : "s"} from ${clock(total)} of video${inClips}, ` +
    `${clock(reel)} in the reel.`;
  $("recut-label").textContent = clips.length
    ? "Another cut of these clips, no new upload:"
    : "Another cut of this video, no new upload:";
  $("timeline-end").textContent = clock(total);
  // When the reel differs from what was asked (shorter, say), the engine says why.
  const notes = detail.notes || [];
  $("reel-notes").textContent = notes.join(" ");
  $("reel-notes").hidden = notes.length === 0;
  segments.forEach((seg, i) => {
    const block = document.createElement("button");
    block.type = "button";
    block.className = "segment";
    // At least 44 px wide to tap (a short moment's block is centred on it), never past the ends.
    const clip = clips.length && seg.clip != null ? clips[seg.clip] : null;
    const offset = clip ? starts[seg.clip] : 0;
    const from = ((offset + seg.source_start) / total) * 100;
    const span = ((seg.source_end - seg.source_start) / total) * 100;
    const width = `max(${span}%, 44px)`;
    block.style.width = width;
    block.style.left = `clamp(0px, calc(${from + span / 2}% - ${width} / 2), calc(100% - ${width}))`;
    const where = clip ? `${clip.filename} ` : "";
    const label = `${where}${clock(seg.source_start)}–${clock(seg.source_end)}: ${seg.reason || "chosen"}`;
    if (clip) block.dataset.clip = clip.filename;
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
  drawClipBands(clips, starts, total, segments);
}

/** Under the timeline of a reel of many clips: each clip's stretch, named, with how many of
 * its moments are in the reel, so which clip each moment came from shows at a glance. */
function drawClipBands(clips, starts, total, segments) {
  const bands = $("clip-bands");
  bands.replaceChildren();
  bands.hidden = clips.length === 0;
  clips.forEach((clip, k) => {
    const band = document.createElement("span");
    band.className = "clip-band";
    band.style.left = `${(starts[k] / total) * 100}%`;
    band.style.width = `${(clip.duration / total) * 100}%`;
    const used = segments.filter((seg) => seg.clip === k).length;
    band.textContent = clip.filename;
    band.title = `${clip.filename}: ${used} moment${used === 1 ? "" : "s"} in the reel`;
    band.dataset.clip = clip.filename;
    bands.appendChild(band);
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
  const clip = block.dataset.clip ? `${block.dataset.clip} ` : "";
  title.querySelector("span").textContent = `${clip}${clock(seg.source_start)}–${clock(seg.source_end)}`;
  box.appendChild(title);
}

// -- one reel of several clips (sources: POST /sources by tus, then POST /reels) ------------

const many = { clips: [], music: null };
const SONG_EXTENSIONS = /\.(mp3|m4a|aac|wav|flac|oga|ogg|opus)$/i;

/** A song rather than a clip: dropped or chosen with the clips, it becomes the music. */
function isSong(file) {
  return (file.type || "").startsWith("audio/") || SONG_EXTENSIONS.test(file.name);
}

/** One file uploaded as a source (tus, purpose "source"), in its own row with its own bar. */
function addSource(file, list, isMusic) {
  const item = { file, sourceId: null, upload: null, failed: false, seconds: null };
  const li = document.createElement("li");
  li.className = isMusic ? "clip song" : "clip";
  // One grid (styles.css): number, name, size and buttons on a row, the bar, the state; on a
  // phone the name has its row, the size and buttons going to the state's.
  li.innerHTML = `<span class="clip-number num" aria-hidden="true"></span>
    <strong class="ellipsis"></strong><span class="clip-size muted small num"></span>
    <span class="clip-tools"></span>
    <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><span></span></div>
    <div class="muted small clip-state">Starting upload…</div>`;
  li.querySelector("strong").textContent = file.name;
  li.querySelector("strong").title = file.name;
  li.querySelector(".clip-size").textContent = bytes(file.size);
  // Shown after the state on a phone, never split between number and unit.
  li.querySelector(".clip-state").dataset.size = bytes(file.size).replace(" ", "\u00a0");
  li.querySelector(".bar").setAttribute("aria-label", `Upload of ${file.name}`);
  item.li = li;
  const tools = li.querySelector(".clip-tools");
  const tool = (text, label, action, name) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small";
    b.textContent = text;
    b.dataset.tool = name;
    b.setAttribute("aria-label", `${label} ${file.name}`);
    b.addEventListener("click", action);
    tools.appendChild(b);
  };
  if (!isMusic) {
    tool("↑", "Move up", () => moveClip(item, -1, "up"), "up");
    tool("↓", "Move down", () => moveClip(item, 1, "down"), "down");
  } else {
    songLength(item);
  }
  tool("✕", "Remove", () => removeSource(item, isMusic), "remove");
  list.appendChild(li);
  const state_ = li.querySelector(".clip-state");
  const fill = li.querySelector(".bar span");
  item.upload = new tus.Upload(file, {
    endpoint: `${API}/uploads/`,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    storeFingerprintForResuming: false,
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream", purpose: "source" },
    onBeforeRequest: (req) => {
      Object.entries(authHeaders()).forEach(([k, v]) => req.setHeader(k, v));
    },
    onProgress: (sent, total) => {
      fill.style.width = `${(sent / total) * 100}%`;
      li.querySelector(".bar").setAttribute("aria-valuenow", String(Math.floor((sent / total) * 100)));
      // Short: on a phone it shares its line with the size and the buttons.
      state_.textContent = sent < total ? `Uploading ${Math.floor((sent / total) * 100)}%` : "Checking…";
    },
    onError: (err) => {
      let detail = "The upload could not finish.";
      try {
        detail = JSON.parse(err.originalResponse.getBody()).detail || detail;
      } catch (_) { /* said in our words */ }
      item.failed = true;
      li.classList.add("failed");
      li.querySelector(".bar").classList.add("failed");
      state_.textContent = detail;
      updateMany();
    },
    onSuccess: (payload) => {
      const res = payload && payload.lastResponse;
      item.sourceId = res && res.getHeader("Moments-Source-Id");
      fill.style.width = "100%";
      li.querySelector(".bar").setAttribute("aria-valuenow", "100");
      state_.textContent = item.sourceId ? "Ready" : "Uploaded, but the server did not keep it.";
      li.dataset.sourceId = item.sourceId || "";
      updateMany();
    },
  });
  item.upload.start();
  return item;
}

/** The song's length, read by the browser from the file itself (nothing is sent for it):
 * the reel is never longer than its song, and the person should know before making it. */
function songLength(item) {
  const audio = document.createElement("audio");
  const url = URL.createObjectURL(item.file);
  const done = () => { URL.revokeObjectURL(url); audio.removeAttribute("src"); };
  audio.preload = "metadata";
  audio.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(audio.duration)) item.seconds = audio.duration;
    done();
    updateMany();
  }, { once: true });
  audio.addEventListener("error", done, { once: true });
  audio.src = url;
}

function addClips(fileList) {
  const files = Array.from(fileList || []); // a copy: the input is cleared for the next choice
  if (!files.length) return;
  Promise.resolve(apiKey() || askForKey()).then((signedIn) => {
    if (!signedIn) return;
    const songs = files.filter(isSong);
    files.filter((f) => !isSong(f)).forEach((file) => many.clips.push(addSource(file, $("clips"), false)));
    if (songs.length) {
      chooseMusic(songs[0]);
      if (songs.length > 1) toast(`One song a reel: ${songs[0].name} is the music.`);
    }
    updateMany();
  });
}

function chooseMusic(file) {
  if (!file) return;
  if (many.music) removeSource(many.music, true, false);
  many.music = addSource(file, $("music"), true);
  updateMany();
}

function moveClip(item, step, name) {
  const at = many.clips.indexOf(item);
  const to = at + step;
  if (at < 0 || to < 0 || to >= many.clips.length) return;
  many.clips.splice(at, 1);
  many.clips.splice(to, 0, item);
  many.clips.forEach((c) => $("clips").appendChild(c.li));
  updateMany();
  // Keyboard focus stays with the clip: on the same arrow, or the other one at either end.
  const same = item.li.querySelector(`button[data-tool=${name}]`);
  (same.disabled ? item.li.querySelector(`button[data-tool=${name === "up" ? "down" : "up"}]`) : same).focus();
}

function removeSource(item, isMusic, refocus = true) {
  if (item.upload && !item.sourceId) item.upload.abort(true).catch(() => {});
  if (item.sourceId) api(`${API}/sources/${item.sourceId}`, { method: "DELETE" }).catch(() => {});
  const at = many.clips.indexOf(item);
  item.li.remove();
  if (isMusic) many.music = null;
  else many.clips = many.clips.filter((c) => c !== item);
  updateMany();
  if (!refocus) return;
  // Keyboard focus goes somewhere sensible, never lost to the page's top.
  const next = isMusic ? null : many.clips[Math.min(at, many.clips.length - 1)];
  if (next) next.li.querySelector("button[data-tool=remove]").focus();
  else $(isMusic ? "music-file" : "many-files").focus();
}

function updateMany() {
  const ready = many.clips.length > 0 && many.clips.every((c) => c.sourceId)
    && (!many.music || many.music.sourceId);
  $("make-many").disabled = !ready;
  $("make-many").textContent = many.clips.length > 1
    ? `Make one reel of ${many.clips.length} clips` : "Make one reel";
  // Why the button cannot be pressed yet, once there is something to wait for or to mend.
  const items = [...many.clips, ...(many.music ? [many.music] : [])];
  const failed = items.filter((c) => c.failed);
  const waiting = items.filter((c) => !c.sourceId && !c.failed).length;
  let why = "";
  if (failed.length) {
    why = `Remove ${failed.map((c) => c.file.name).join(", ")}: it could not be uploaded.`;
  } else if (waiting) {
    why = `Waiting for ${waiting} upload${waiting === 1 ? "" : "s"} to finish…`;
  } else if (!many.clips.length && many.music) {
    why = "Add the clips to set to this song.";
  }
  $("many-status").textContent = why;
  $("many-status").hidden = !why;
  many.clips.forEach((c, i) => {
    c.li.querySelector(".clip-number").textContent = String(i + 1);
    c.li.querySelector("button[data-tool=up]").disabled = i === 0;
    c.li.querySelector("button[data-tool=down]").disabled = i === many.clips.length - 1;
  });
  const song = many.music;
  $("music-pick").classList.toggle("chosen", Boolean(song));
  $("music-pick-text").textContent = song ? "Change song" : "Add a song";
  $("music-mode-field").hidden = !song;
  let hint = "MP3, M4A, WAV or FLAC: the cuts fall on its beat";
  if (song && song.seconds) {
    const asked = Number($("duration").value);
    hint = song.seconds < asked
      ? `The song is ${clock(song.seconds)}: the reel ends with it, shorter than the ${asked} s asked.`
      : `The song is ${clock(song.seconds)}; the cuts fall on its beat.`;
    const size = `${clock(song.seconds)} · ${bytes(song.file.size)}`;
    song.li.querySelector(".clip-size").textContent = size;
    song.li.querySelector(".clip-state").dataset.size = size.replace(/ (?=[KMG]?B)/, "\u00a0");
  }
  $("music-hint").textContent = hint;
}

async function makeMany() {
  $("make-many").disabled = true;
  const body = {
    sources: many.clips.map((c) => c.sourceId),
    options: {
      duration: Number($("duration").value),
      ...reelChoices(),
    },
  };
  if (many.music) {
    body.music = many.music.sourceId;
    body.music_mode = document.querySelector("input[name=music-mode]:checked").value;
  }
  try {
    const job = await api(`${API}/reels`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    openJob(job.id);
    loadJobs();
  } catch (err) {
    toast(`Could not make the reel: ${err.message}`);
  } finally {
    updateMany();
  }
}

/** A drop area: highlighted while files are over it, ``take`` given what is dropped. */
function dropArea(zone, take) {
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    take(e.dataTransfer.files);
  });
}

function wireMany() {
  $("many-files").addEventListener("change", (e) => { addClips(e.target.files); e.target.value = ""; });
  dropArea($("many-zone"), addClips);
  $("music-file").addEventListener("change", (e) => { chooseMusic(e.target.files[0]); e.target.value = ""; });
  dropArea($("music-pick"), (files) => {
    const song = Array.from(files).find(isSong);
    if (song) chooseMusic(song);
    else if (files.length) toast("That is not a song: MP3, M4A, WAV or FLAC.");
  });
  $("duration").addEventListener("input", updateMany);
  $("make-many").addEventListener("click", makeMany);
  updateMany();
}

// -- past jobs ----------------------------------------------------------------------------

async function loadJobs() {
  let page;
  try {
    page = await api(`${API}/jobs?limit=20`);
  } catch (err) {
    $("jobs").replaceChildren();
    $("jobs-empty").hidden = false;
    $("jobs-empty").textContent = err.signIn
      ? `${err.message} Sign in (top right) to see your reels.`
      : `Your reels could not be loaded: ${err.message}`;
    return;
  }
  const list = $("jobs");
  list.replaceChildren();
  $("jobs-empty").hidden = page.items.length > 0;
  $("jobs-empty").textContent = "Nothing yet — your reels will show up here.";
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
    badge.textContent = badgeText(job);
    button.append(thumb, meta, badge);
    button.addEventListener("click", () => openJob(job.id));
    li.appendChild(button);
    list.appendChild(li);
  }
  // Jobs running that the open card does not follow: look again in a while.
  clearTimeout(state.listTimer);
  if (page.items.some((j) => RUNNING.includes(j.status) && j.id !== state.jobId)) {
    state.listTimer = setTimeout(loadJobs, 4000);
  }
}

// -- start --------------------------------------------------------------------------------

function start() {
  wireForm();
  wireMany();
  loadSignIn();
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
