// The participant's path: consent -> camera check -> 5 recorded answers -> IPIP-50 -> thank you.
"use strict";
const state = { participant: null, stream: null, recorder: null, chunks: [], question: 0, questions: [], items: [], scale: [] };
const $ = (id) => document.getElementById(id);

function show(step) {
  document.querySelectorAll(".step").forEach((s) => { s.hidden = s.id !== step; });
  const heading = document.querySelector(`#${step} h1`);
  if (heading) heading.focus();  // keyboard and screen-reader users land on the new step
}

async function api(method, path, body, headers = {}) {
  const options = { method, headers };
  if (body instanceof Blob) { options.body = body; options.headers["Content-Type"] = body.type || "video/webm"; }
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) { const err = new Error(data.detail || response.statusText); err.status = response.status; throw err; }
  return data;
}

async function uploadWithRetry(blob, number, attempts = 4) {
  for (let i = 1; i <= attempts; i++) {
    try { return await api("PUT", `/api/participants/${state.participant}/answers/${number}`, blob); }
    catch (err) {
      if (err.status && err.status < 500 && err.status !== 408 && err.status !== 429) throw err;  // our fault: do not retry
      if (i === attempts) throw err;
      $("record-status").textContent = `Upload failed (${err.message}); retrying (${i}/${attempts - 1})…`;
      await new Promise((r) => setTimeout(r, 1000 * 2 ** (i - 1)));
    }
  }
}

$("consent-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!$("consent-check").checked) { $("consent-error").textContent = "Please tick the box to agree before continuing."; return; }
  try {
    const meta = await api("GET", "/api/questions");
    state.questions = meta.questions; state.items = meta.ipip50; state.scale = meta.scale;
    state.participant = (await api("POST", "/api/participants")).participant_id;
    await api("POST", `/api/participants/${state.participant}/consent`, { agree: true });
    await api("POST", `/api/participants/${state.participant}/profile`,
      { profile: { gender: $("profile-gender").value, age_band: $("profile-age").value } });
    show("step-camera");
    startCamera();
  } catch (err) { $("consent-error").textContent = `Could not start: ${err.message}`; }
});

async function startCamera() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    $("preview").srcObject = state.stream;
    $("camera-status").textContent = "Camera and microphone are on.";
    $("camera-ok").disabled = false;
  } catch (err) {
    $("camera-status").textContent = `The camera or microphone is not available (${err.message}). Allow access and reload the page.`;
  }
}

$("camera-ok").addEventListener("click", () => { $("live").srcObject = state.stream; nextQuestion(); });

function nextQuestion() {
  state.question += 1;
  if (state.question > state.questions.length) { buildQuestionnaire(); show("step-ipip"); return; }
  $("q-number").textContent = state.question;
  $("q-text").textContent = state.questions[state.question - 1];
  $("record-status").textContent = "Press Start recording when you are ready.";
  $("record-start").disabled = false; $("record-stop").disabled = true;
  show("step-question");
}

$("record-start").addEventListener("click", () => {
  state.chunks = [];
  state.recorder = new MediaRecorder(state.stream, { mimeType: "video/webm" });
  state.recorder.ondataavailable = (e) => { if (e.data.size) state.chunks.push(e.data); };
  state.recorder.onstop = async () => {
    const blob = new Blob(state.chunks, { type: "video/webm" });
    $("record-status").textContent = "Uploading your answer…";
    try {
      await uploadWithRetry(blob, state.question);
      $("record-status").textContent = `Answer ${state.question} saved.`;
      nextQuestion();
    } catch (err) {
      $("record-status").textContent = `Your answer could not be saved (${err.message}). Please record it again.`;
      $("record-start").disabled = false;
    }
  };
  state.recorder.start(250);
  $("record-start").disabled = true; $("record-stop").disabled = false; $("record-stop").focus();
  $("record-status").textContent = "Recording… press Stop and upload when you have finished.";
});

$("record-stop").addEventListener("click", () => { $("record-stop").disabled = true; state.recorder.stop(); });

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
  try {
    await api("POST", `/api/participants/${state.participant}/ipip50`, { answers });
    const done = await api("POST", `/api/participants/${state.participant}/complete`);
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    $("participant-code").textContent = done.participant_code;
    show("step-thanks");
  } catch (err) { $("ipip-error").textContent = `Could not submit: ${err.message}`; }
});
