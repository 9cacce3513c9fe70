// The participant's path: consent -> camera check -> 5 answers (record, review, keep or record again,
// upload with progress) -> IPIP-50 (research mode only; a screening applicant completes after the answers)
// -> thank you. A reload resumes: the code is kept in this tab
// (sessionStorage) and the server says which answers are in.
"use strict";
const KEY = "sales-ability-participant";
const state = {
  participant: sessionStorage.getItem(KEY), stream: null, recorder: null, chunks: [], bytes: 0, take: null,
  question: 0, questions: [], items: [], scale: [], limits: null, mimeType: null, busy: false, timer: null,
  done: [], mode: "research",
};
const $ = (id) => document.getElementById(id);

function show(step) {
  document.querySelectorAll(".step").forEach((s) => { s.hidden = s.id !== step; });
  const heading = document.querySelector(`#${step} h1`);
  if (heading) heading.focus();  // keyboard and screen-reader users land on the new step
}

function panel(name) {  // within a question: "record", "review" or "upload"
  $("record-panel").hidden = name !== "record";
  $("review-panel").hidden = name !== "review";
  $("upload-panel").hidden = name !== "upload";
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) { const err = new Error(data.detail || response.statusText); err.status = response.status; throw err; }
  return data;
}

// The first container this browser can record: webm (vp9, then vp8) for Chrome/Firefox/Edge, mp4 for Safari.
function pickMimeType() {
  if (typeof MediaRecorder === "undefined") return null;
  const candidates = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];
  return candidates.find((t) => MediaRecorder.isTypeSupported(t)) || null;
}

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

// Leaving while recording or uploading would lose the take: ask first.
window.addEventListener("beforeunload", (event) => {
  if (state.busy) { event.preventDefault(); event.returnValue = ""; }
});

async function loadQuestions() {
  const meta = await api("GET", "/api/questions");
  Object.assign(state, { questions: meta.questions, items: meta.ipip50, scale: meta.scale, limits: meta.limits,
                         mode: meta.mode });
  const [lo, hi] = state.limits.suggested_seconds;
  $("q-guidance").textContent = `Suggested length: ${clock(lo)} to ${clock(hi)}. At least ${state.limits.min_seconds} s `
    + `(a shorter answer cannot be scored); `
    + `recording stops on its own at ${clock(state.limits.max_seconds)}.`;
}

$("consent-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!$("consent-check").checked) { $("consent-error").textContent = "Please tick the box to agree before continuing."; return; }
  try {
    await loadQuestions();
    const link = new URLSearchParams(window.location.search);  // a screening link: ?requisition=...&ref=...
    const application = link.get("requisition") ? { requisition: link.get("requisition"), ...(link.get("ref") ? { reference: link.get("ref") } : {}) } : {};
    const body = state.mode === "screening" ? { agree: true, ...application }
      : { agree: true, profile: { gender: $("profile-gender").value, age_band: $("profile-age").value } };
    state.participant = (await api("POST", "/api/participants", body)).participant_id;
    sessionStorage.setItem(KEY, state.participant);
    show("step-camera");
    startCamera();
  } catch (err) { $("consent-error").textContent = `Could not start: ${err.message}`; }
});

// A reload (or a camera error the candidate fixed) comes back here: ask the server where the candidate was.
async function resume() {
  if (!state.participant) return;
  let progress;
  try { progress = await api("GET", `/api/participants/${state.participant}`); }
  catch (err) { sessionStorage.removeItem(KEY); state.participant = null; return; }  // purged or withdrawn: start afresh
  await loadQuestions();
  state.done = progress.answers;
  if (progress.status === "complete") { finish(); return; }
  if (progress.questionnaire) { await complete(); return; }
  $("resume-note").hidden = false;
  show("step-camera");
  startCamera();
}

async function startCamera() {
  state.mimeType = pickMimeType();
  if (!state.mimeType) {
    $("camera-status").textContent = "This browser cannot record video. Please open this page in a recent Chrome, "
      + "Edge, Firefox or Safari; your progress is kept in this tab.";
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    $("preview").srcObject = state.stream;
    $("camera-status").textContent = "Camera and microphone are on.";
    $("camera-ok").disabled = false;
  } catch (err) {
    $("camera-status").textContent = `The camera or microphone is not available (${err.message}). Allow access and `
      + "reload the page: your answers so far are kept.";
  }
}

$("camera-ok").addEventListener("click", () => { $("live").srcObject = state.stream; nextQuestion(); });

function nextQuestion() {
  do { state.question += 1; } while (state.done.includes(state.question));
  if (state.question > state.questions.length) {
    if (state.mode === "screening") { show("step-self-report"); return; }  // optional, then complete
    buildQuestionnaire(); show("step-ipip"); return;
  }
  $("q-number").textContent = state.question;
  $("q-text").textContent = state.questions[state.question - 1];
  $("record-status").textContent = "Press Start recording when you are ready.";
  $("timer").textContent = "0:00";
  $("record-start").disabled = false; $("record-stop").disabled = true;
  panel("record");
  show("step-question");
}

function stopTimer() { clearInterval(state.timer); state.timer = null; $("timer").classList.remove("near-limit"); }

$("record-start").addEventListener("click", () => {
  state.chunks = []; state.bytes = 0;
  const started = Date.now();
  state.recorder = new MediaRecorder(state.stream, { mimeType: state.mimeType, videoBitsPerSecond: 1_000_000 });
  state.recorder.ondataavailable = (e) => {
    if (!e.data.size) return;
    state.chunks.push(e.data); state.bytes += e.data.size;
    // stop before the server's size limit (10 % head room for the container's last bytes)
    if (state.bytes > 0.9 * state.limits.max_upload_bytes && state.recorder.state === "recording") stopRecording("size");
  };
  state.recorder.onstop = () => {
    stopTimer();
    state.busy = false;
    state.take = new Blob(state.chunks, { type: state.mimeType.split(";")[0] });
    if (state.reviewUrl) URL.revokeObjectURL(state.reviewUrl);
    state.reviewUrl = URL.createObjectURL(state.take);
    $("review").src = state.reviewUrl;
    panel("review");
    $("review-use").focus();
  };
  state.recorder.start(250);
  state.busy = true;
  state.timer = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    $("timer").textContent = `${clock(seconds)} / ${clock(state.limits.max_seconds)}`;
    $("timer").classList.toggle("near-limit", seconds > state.limits.max_seconds - 15);
    if (seconds >= state.limits.stop_after_seconds) $("record-stop").disabled = false;
    if (seconds >= state.limits.max_seconds) stopRecording("time");
  }, 250);
  $("record-start").disabled = true; $("record-stop").disabled = true;
  $("record-status").textContent = `Recording… you can stop after ${state.limits.stop_after_seconds} s.`;
});

function stopRecording(why) {
  $("record-stop").disabled = true;
  $("record-status").textContent = why === "time" ? "The longest answer was reached: recording stopped."
    : why === "size" ? "The largest recording was reached: recording stopped." : "Recording stopped.";
  if (state.recorder && state.recorder.state === "recording") state.recorder.stop();
}

$("record-stop").addEventListener("click", () => stopRecording("button"));

$("review-again").addEventListener("click", () => {
  $("review").pause();
  state.take = null;
  $("timer").textContent = "0:00";
  $("record-start").disabled = false;
  $("record-status").textContent = "Press Start recording when you are ready.";
  panel("record");
  $("record-start").focus();
});

$("review-use").addEventListener("click", async () => {
  $("review").pause();
  panel("upload");
  state.busy = true;
  try {
    await uploadWithRetry(state.take, state.question);
    state.done.push(state.question);
    $("record-status").textContent = `Answer ${state.question} saved.`;
    state.busy = false;
    nextQuestion();
  } catch (err) {
    state.busy = false;
    $("record-status").textContent = `Your answer could not be saved (${err.message}). Please record it again.`;
    $("record-start").disabled = false;
    panel("record");
  }
});

// XMLHttpRequest, not fetch: it reports upload progress.
function upload(blob, number) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/participants/${state.participant}/answers/${number}`);
    xhr.setRequestHeader("Content-Type", blob.type || "video/webm");
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.floor((100 * e.loaded) / e.total);
      $("upload-progress").value = percent; $("upload-percent").textContent = `${percent} %`;
    };
    xhr.onload = () => {
      let data = {}; try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else { const err = new Error(data.detail || xhr.statusText); err.status = xhr.status; reject(err); }
    };
    xhr.onerror = () => reject(new Error("network error"));
    $("upload-progress").value = 0; $("upload-percent").textContent = "0 %";
    xhr.send(blob);
  });
}

async function uploadWithRetry(blob, number, attempts = 4) {
  for (let i = 1; i <= attempts; i++) {
    try { return await upload(blob, number); }
    catch (err) {
      if (err.status && err.status < 500 && err.status !== 408 && err.status !== 429) throw err;  // our fault: do not retry
      if (i === attempts) throw err;
      $("record-status").textContent = `Upload failed (${err.message}); retrying (${i}/${attempts - 1})…`;
      await new Promise((r) => setTimeout(r, 1000 * 2 ** (i - 1)));
    }
  }
}

function buildQuestionnaire() {
  const box = $("ipip-items");
  box.textContent = "";
  state.items.forEach((item, index) => {
    const fieldset = document.createElement("fieldset");
    fieldset.id = `fs-${item.item}`;
    const legend = document.createElement("legend");
    legend.textContent = `${index + 1}. ${item.text}`;
    fieldset.appendChild(legend);
    const scale = document.createElement("div"); scale.className = "scale";
    state.scale.forEach((label, k) => {
      const id = `${item.item}-${k + 1}`;
      const input = document.createElement("input");
      Object.assign(input, { type: "radio", name: item.item, id, value: String(k + 1), required: true });
      const lab = document.createElement("label"); lab.htmlFor = id; lab.textContent = ` ${k + 1} ${label}`;
      lab.prepend(input);
      scale.appendChild(lab);
    });
    fieldset.appendChild(scale); box.appendChild(fieldset);
  });
}

async function complete() {
  const done = await api("POST", `/api/participants/${state.participant}/complete`);
  finish(done.participant_code);
}

function finish(code = state.participant) {
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  sessionStorage.removeItem(KEY);
  $("participant-code").textContent = code;
  show("step-thanks");
}

$("ipip-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answers = {}; const missing = [];
  state.items.forEach((item) => {
    const checked = document.querySelector(`input[name="${item.item}"]:checked`);
    $(`fs-${item.item}`).classList.toggle("missing", !checked);
    if (checked) answers[item.item] = Number(checked.value); else missing.push(item.item);
  });
  if (missing.length) {
    $("ipip-error").textContent = `Please answer every statement (${missing.length} left, first: ${missing[0]}).`;
    document.querySelector(`input[name="${missing[0]}"]`).focus();
    return;
  }
  $("ipip-submit").disabled = true;  // sent once
  try {
    await api("POST", `/api/participants/${state.participant}/ipip50`, { answers });
    await complete();
  } catch (err) {
    if (err.status === 409 && /already submitted/.test(err.message)) { await complete().catch(() => {}); return; } $("ipip-error").textContent = `Could not submit: ${err.message}`; $("ipip-submit").disabled = false; }
});

// Screening: the optional self-report for the bias audit, then completion (which publishes the answers).
$("self-report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", `/api/participants/${state.participant}/self_report`,
              { sex: $("self-sex").value, race_ethnicity: $("self-race").value });
    await complete();
  } catch (err) { $("self-report-error").textContent = `Could not finish: ${err.message}`; }
});
$("self-report-skip").addEventListener("click", () => {
  complete().catch((err) => { $("self-report-error").textContent = `Could not finish: ${err.message}`; });
});

// The consent shown depends on the site's mode (research study or job screening); nothing is stored by asking.
function applyMode() {
  const screening = state.mode === "screening";
  $("consent-research").hidden = screening; $("consent-screening").hidden = !screening;
  $("profile-fieldset").hidden = screening;
  $("h-consent").textContent = screening ? "Video screening for a sales role: your consent" : "Self-introduction study: consent";
  $("thanks-research").hidden = screening; $("thanks-screening").hidden = !screening;
}

loadQuestions().then(applyMode).catch(() => {}).finally(resume);
