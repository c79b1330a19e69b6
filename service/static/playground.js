// The playground: calls the public API of the page's own origin (/v1/model, /v1/score,
// /v1/feedback, /v1/users) and draws the user's head weights. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
// The user-id rule is the page's: the input's pattern attribute (service.schemas.ID_PATTERN).
const USER_ID = new RegExp(`^(?:${$("user-id").pattern})$`, "u");
const state = { heads: [], shown: null, busy: false };

function randomId(prefix) {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes); // works on plain http too (crypto.randomUUID does not)
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function userId() {
  return $("user-id").value.trim();
}

function texts() {
  return { prompt: $("prompt").value, responses: [$("response-0").value, $("response-1").value] };
}

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  const data = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok && reply.status !== 404) {
    const detail = data && (data.detail || data.title);
    throw new Error(`${reply.status}: ${detail || reply.statusText}`);
  }
  return { status: reply.status, data };
}

function headLabel(k) {
  const text = state.heads[k] || `head ${k}`;
  const cut = text.indexOf(": ");
  return cut > 0 ? { name: text.slice(0, cut), about: text.slice(cut + 2) } : { name: text, about: "" };
}

// weights: the bars now; before (optional): where the bars were before the last label.
function drawWeights(weights, before, source) {
  const chart = $("weights");
  chart.replaceChildren();
  chart.dataset.source = source;
  $("weights-source").textContent = source;
  const top = Math.max(...weights, ...(before || [])); // the largest bar fills 90% of its track
  const width = (w) => `${((90 * w) / top).toFixed(2)}%`;
  weights.forEach((w, k) => {
    const row = document.createElement("div");
    row.className = "bar-row";
    row.setAttribute("role", "listitem");
    row.dataset.head = String(k);
    row.dataset.weight = w.toFixed(6);

    const label = document.createElement("div");
    label.className = "bar-label";
    const { name, about } = headLabel(k);
    label.textContent = name;
    if (about) {
      const small = document.createElement("small");
      small.textContent = about;
      label.title = `${name}: ${about}`;
      label.append(small);
    }

    const track = document.createElement("div");
    track.className = "bar-track";
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = width(w);
    track.append(bar);

    const value = document.createElement("div");
    value.className = "bar-value";
    value.textContent = `${(100 * w).toFixed(1)}%`;
    if (before) {
      const tick = document.createElement("div");
      tick.className = "bar-before";
      tick.style.left = width(before[k]);
      track.append(tick);
      const delta = 100 * (w - before[k]);
      const span = document.createElement("span");
      span.className = delta >= 0 ? "delta-up" : "delta-down";
      span.textContent = ` (${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(1)})`;
      value.append(span);
    }
    row.setAttribute("aria-label", `${name}: ${(100 * w).toFixed(1)} percent`);
    row.append(label, track, value);
    chart.append(row);
  });
  state.shown = weights;
}

function drawScores(result) {
  result.scores.forEach((s, i) => {
    $(`score-${i}`).textContent = s.toFixed(3);
    $(`card-${i}`).classList.toggle("best", result.ranking[0] === i);
  });
  // P(A > B) = sigmoid(score A - score B): over 50% exactly when A is the card marked best;
  // two decimals, so that one label's move (often under 0.1 point) shows
  const p = result.p_first_preferred;
  $("p-first").textContent = p === undefined || p === null ? "–" : `${(100 * p).toFixed(2)}%`;
}

async function refreshUser() {
  const { status, data } = await api("GET", `/v1/users/${encodeURIComponent(userId())}`);
  $("n-feedback").textContent = status === 404 ? "0" : String(data.n_feedback);
}

async function score(before) {
  const { prompt, responses } = texts();
  const { data } = await api("POST", "/v1/score", { user_id: userId(), prompt, responses });
  drawScores(data);
  drawWeights(data.weights, before, data.weights_source);
  return data;
}

async function prefer(choice) {
  const { prompt, responses } = texts();
  const body = {
    user_id: userId(),
    prompt,
    chosen: responses[choice],
    rejected: responses[1 - choice],
    feedback_id: randomId("play-"), // a retried click never applies twice
  };
  const { data } = await api("POST", "/v1/feedback", body);
  $("n-feedback").textContent = String(data.n_feedback);
  await score(data.weights_before); // the scores under the new weights; bars = weights_after
  const label = choice === 0 ? "A" : "B";
  setStatus(`Label ${data.n_feedback} applied: you preferred ${label}. The heads that agree gained weight.`);
}

async function forget() {
  await api("DELETE", `/v1/users/${encodeURIComponent(userId())}`);
  $("n-feedback").textContent = "0";
  await score();
  setStatus(`Forgot ${userId()}: back to the prior's weights.`);
}

function newUser() {
  $("user-id").value = randomId("play-");
  localStorage.setItem("micro-playground-user", $("user-id").value);
}

// Runs one action at a time, with the buttons disabled and errors shown in the status line.
function action(fn) {
  return async () => {
    if (state.busy) return;
    if (!USER_ID.test(userId())) {
      setStatus("User id: 1-128 of A-Z a-z 0-9 . _ : @ -", true);
      return;
    }
    state.busy = true;
    document.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await fn();
    } catch (err) {
      setStatus(String(err.message || err), true);
    } finally {
      state.busy = false;
      document.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  };
}

async function start() {
  const saved = localStorage.getItem("micro-playground-user");
  if (saved && USER_ID.test(saved)) $("user-id").value = saved;
  else newUser();
  $("user-id").addEventListener("change", () => {
    if (USER_ID.test(userId())) localStorage.setItem("micro-playground-user", userId());
  });
  $("score").addEventListener("click", action(async () => { await score(); setStatus("Scored."); }));
  $("prefer-0").addEventListener("click", action(() => prefer(0)));
  $("prefer-1").addEventListener("click", action(() => prefer(1)));
  $("forget-user").addEventListener("click", action(forget));
  $("new-user").addEventListener("click", action(async () => {
    newUser();
    await refreshUser();
    await score();
    setStatus("New user: the prior's weights.");
  }));

  await action(async () => {
    const { data } = await api("GET", "/v1/model");
    state.heads = data.head_descriptions || [];
    $("model-line").textContent =
      `${data.num_heads} heads on ${data.backbone.id} · model ${data.model_version} · ${data.device}`;
    await refreshUser();
    await score();
    setStatus("Ready: edit the texts, score them, and say which response you prefer.");
  })();
  document.body.dataset.ready = "true";
}

start();
