// The playground: calls the public API of the page's own origin (/v1/model, /v1/score,
// /v1/feedback, /v1/users, /v1/users/{id}/next-query); drawing lives in playground-view.js.
// Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
// The user-id rule is the page's: the input's pattern attribute (service.api.schemas.ID_PATTERN).
const USER_ID = new RegExp(`^(?:${$("user-id").pattern})$`, "u");
const STORAGE_KEY = "micro-playground-user";
const state = { numHeads: 0, busy: false, user: "", history: [], suggestion: null };

function randomId(prefix) {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes); // works on plain http too (crypto.randomUUID does not)
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function userPath(suffix = "") {
  return `/v1/users/${encodeURIComponent(state.user)}${suffix}`;
}

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

class InputError extends Error {}

// The texts to send; an empty prompt or response is refused here, naming the field.
function texts() {
  const fields = [["prompt", "the prompt"], ["response-0", "response A"], ["response-1", "response B"]];
  fields.forEach(([id]) => $(id).removeAttribute("aria-invalid"));
  for (const [id, name] of fields) {
    if (!$(id).value.trim()) {
      $(id).setAttribute("aria-invalid", "true");
      $(id).focus();
      throw new InputError(`Write ${name} first: it is empty.`);
    }
  }
  return { prompt: $("prompt").value, responses: [$("response-0").value, $("response-1").value] };
}

function candidates() {
  const lines = $("candidates").value.split("\n").map((line) => line.trim()).filter(Boolean);
  if (lines.length < 2) throw new InputError("Give at least two candidate responses, one per line.");
  return lines;
}

// A problem+json reply -> one readable line: title, detail, the fields at fault, the request id.
function problemText(status, data, statusText) {
  if (!data) return `HTTP ${status} ${statusText}`;
  const fields = (data.errors || []).slice(0, 3).map((e) => `${e.field}: ${e.message}`);
  const parts = [`${data.title || statusText} (HTTP ${status})`];
  if (data.detail && data.detail !== data.title) parts.push(String(data.detail));
  if (fields.length) parts.push(fields.join("; "));
  let text = parts.join(": ");
  if (data.request_id) text += ` [request ${data.request_id}]`;
  return text;
}

async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json, application/problem+json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(path, init);
  } catch (err) {
    throw new Error(`Cannot reach the service (${err.message}). Is it running?`);
  }
  const data = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok) throw new Error(problemText(reply.status, data, reply.statusText));
  return data;
}

function showScores(result) {
  result.scores.forEach((s, i) => {
    $(`score-${i}`).textContent = s.toFixed(3);
    $(`card-${i}`).classList.toggle("best", result.ranking[0] === i);
  });
  // P(A > B) = sigmoid(score A - score B): over 50% exactly when A is the card marked best;
  // two decimals, so that one label's move (often under 0.1 point) shows
  const p = result.p_first_preferred;
  $("p-first").textContent = p === undefined || p === null ? "–" : `${(100 * p).toFixed(2)}%`;
}

async function score(before) {
  const data = await api("POST", "/v1/score", { user_id: state.user, ...texts() });
  showScores(data);
  drawWeights($("weights"), data.weights, before);
  $("weights").dataset.source = data.weights_source;
  $("weights-source").textContent = data.weights_source;
  return data;
}

// The user's stored state, read only when the score says there is one ("user"): a user without
// state is answered 404 by GET /v1/users/{id}, and the page never asks for what it knows is absent.
async function refreshUser(source) {
  const user = source === "user" ? await api("GET", userPath()) : null;
  $("n-feedback").textContent = user ? String(user.n_feedback) : source === "prior" ? "0" : "?";
  if (user && !state.history.length && user.n_feedback > 0) {
    state.history.push({ n: user.n_feedback, weights: user.base_weights }); // labels given before this page
  }
  drawHistory($("history"), state.history);
  return user;
}

async function suggest() {
  const lines = candidates();
  const { prompt } = texts();
  const data = await api("POST", userPath("/next-query"), { prompt, responses: lines });
  state.suggestion = { a: lines[data.pair[0]], b: lines[data.pair[1]] };
  drawSuggestion($("suggestion"), lines, data);
}

async function useSuggestion() {
  $("response-0").value = state.suggestion.a;
  $("response-1").value = state.suggestion.b;
  await score();
  setStatus("The suggested pair is in A and B: say which you prefer.");
}

async function prefer(choice) {
  const { prompt, responses } = texts();
  const body = {
    user_id: state.user,
    prompt,
    chosen: responses[choice],
    rejected: responses[1 - choice],
    feedback_id: randomId("play-"), // a retried click never applies twice
  };
  const data = await api("POST", "/v1/feedback", body);
  const scored = await score(data.weights_before); // the scores under the new weights; bars = weights_after
  const user = await refreshUser(scored.weights_source);
  if (user && state.history.at(-1)?.n !== user.n_feedback) {
    state.history.push({ n: user.n_feedback, weights: user.base_weights });
    drawHistory($("history"), state.history);
  }
  await suggest();
  setStatus(`Label ${data.n_feedback} applied: you preferred ${choice === 0 ? "A" : "B"}. ` +
    "The heads that agree gained weight; the next suggested pair is below.");
}

// A user's view from scratch: scores, labels given, history, the suggested pair.
async function showUser(message) {
  state.history = [];
  state.suggestion = null;
  const scored = await score();
  await refreshUser(scored.weights_source);
  await suggest();
  setStatus(message);
}

async function forget() {
  await api("DELETE", userPath());
  await showUser(`Forgot ${state.user}: back to the prior's weights.`);
}

function setUser(id) {
  state.user = id;
  $("user-id").value = id;
  localStorage.setItem(STORAGE_KEY, id);
}

function setBusy(busy) {
  state.busy = busy;
  document.body.dataset.busy = String(busy);
  document.querySelectorAll("button").forEach((b) => { b.disabled = busy; });
  $("use-suggestion").disabled = busy || !state.suggestion;
}

// Runs one action at a time, with the buttons disabled and errors shown in the status line.
function action(fn) {
  return async () => {
    if (state.busy) return;
    if (!USER_ID.test(state.user)) {
      setStatus("User id: 1-128 of A-Z a-z 0-9 . _ : @ -", true);
      return;
    }
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      setStatus(String(err.message || err), true);
    } finally {
      setBusy(false);
    }
  };
}

function switchUser() {
  const typed = $("user-id").value.trim();
  if (state.busy) {
    $("user-id").value = state.user; // one action at a time: the switch waits for a new try
    return;
  }
  if (!USER_ID.test(typed)) {
    setStatus(`User id "${typed}": use 1-128 of A-Z a-z 0-9 . _ : @ -`, true);
    return;
  }
  if (typed === state.user) return;
  setUser(typed);
  action(() => showUser(`Switched to ${typed}.`))();
}

async function start() {
  const saved = localStorage.getItem(STORAGE_KEY);
  setUser(saved && USER_ID.test(saved) ? saved : randomId("play-"));
  $("user-id").addEventListener("change", switchUser);
  $("score").addEventListener("click", action(async () => { await score(); setStatus("Scored."); }));
  $("prefer-0").addEventListener("click", action(() => prefer(0)));
  $("prefer-1").addEventListener("click", action(() => prefer(1)));
  $("forget-user").addEventListener("click", action(forget));
  $("suggest").addEventListener("click", action(async () => { await suggest(); setStatus("Suggested a pair."); }));
  $("use-suggestion").addEventListener("click", action(useSuggestion));
  $("new-user").addEventListener("click", () => {
    if (state.busy) return;
    setUser(randomId("play-"));
    action(() => showUser("New user: the prior's weights."))();
  });

  await action(async () => {
    const card = await api("GET", "/v1/model");
    setModel(card);
    state.numHeads = card.num_heads;
    $("model-line").textContent =
      `${card.num_heads} heads on ${card.backbone.id} · model ${card.model_version} · ${card.device}`;
    drawHeadCards($("head-cards"), card.num_heads);
    await showUser("Ready: edit the texts, score them, and say which response you prefer.");
  })();
  document.body.dataset.ready = "true";
}

start();
