// The playground's drawing: head names from the model card's head cards, the weight bars, the
// per-label history (inline SVG), the head list and the suggested pair. No network here.
"use strict";

const view = { cards: [], descriptions: [] };
const SVG = "http://www.w3.org/2000/svg";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headColor(k, count) {
  return `hsl(${Math.round((360 * k) / Math.max(1, count))}, 55%, 52%)`;
}

// {name, about} of head k: its card when the checkpoint has cards, else its description line.
function headLabel(k) {
  const card = view.cards[k];
  if (card) return { name: card.name, about: card.summary };
  const text = view.descriptions[k] || `head ${k}`;
  const cut = text.indexOf(": ");
  return cut > 0 ? { name: text.slice(0, cut), about: text.slice(cut + 2) } : { name: text, about: "" };
}

function setModel(card) {
  view.cards = card.head_cards || [];
  view.descriptions = card.head_descriptions || [];
}

function pct(w) {
  return `${(100 * w).toFixed(1)}%`;
}

// weights: the bars now; before (optional): where the bars were before the last label.
function drawWeights(chart, weights, before) {
  chart.replaceChildren();
  const top = Math.max(...weights, ...(before || [])); // the largest bar fills 90% of its track
  const width = (w) => `${((90 * w) / top).toFixed(2)}%`;
  weights.forEach((w, k) => {
    const { name, about } = headLabel(k);
    const row = el("div", "bar-row");
    row.setAttribute("role", "listitem");
    row.dataset.head = String(k);
    row.dataset.weight = w.toFixed(6);
    row.setAttribute("aria-label", `${name}: ${(100 * w).toFixed(1)} percent`);

    const label = el("div", "bar-label");
    const swatch = el("span", "swatch");
    swatch.style.background = headColor(k, weights.length);
    label.append(swatch, name);
    if (about) {
      label.title = `${name}: ${about}`;
      label.append(el("small", "", about));
    }

    const track = el("div", "bar-track");
    const bar = el("div", "bar");
    bar.style.width = width(w);
    bar.style.background = headColor(k, weights.length);
    track.append(bar);

    const value = el("div", "bar-value", pct(w));
    if (before) {
      const tick = el("div", "bar-before");
      tick.style.left = width(before[k]);
      track.append(tick);
      const delta = 100 * (w - before[k]);
      value.append(el("span", delta >= 0 ? "delta-up" : "delta-down",
        ` (${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(1)})`));
    }
    row.append(label, track, value);
    chart.append(row);
  });
}

// history: [{n, weights}], one stacked column per label (the last 40).
function drawHistory(box, history) {
  box.replaceChildren();
  if (!history.length) {
    box.append(el("p", "muted", "No labels yet: a column appears here after each label."));
    return;
  }
  const shown = history.slice(-40);
  const col = 22, gap = 6, height = 120, axis = 16;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", String(shown.length * (col + gap) + gap));
  svg.setAttribute("height", String(height + axis));
  svg.setAttribute("role", "img");
  shown.forEach((entry, i) => {
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("class", "history-column");
    g.dataset.n = String(entry.n);
    const x = gap + i * (col + gap);
    let y = height;
    entry.weights.forEach((w, k) => {
      const rect = document.createElementNS(SVG, "rect");
      const h = w * height;
      y -= h;
      rect.setAttribute("x", String(x));
      rect.setAttribute("y", y.toFixed(2));
      rect.setAttribute("width", String(col));
      rect.setAttribute("height", h.toFixed(2));
      rect.setAttribute("fill", headColor(k, entry.weights.length));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `after label ${entry.n}: ${headLabel(k).name} ${pct(w)}`;
      rect.append(title);
      g.append(rect);
    });
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", String(x + col / 2));
    label.setAttribute("y", String(height + axis - 3));
    label.setAttribute("text-anchor", "middle");
    label.textContent = String(entry.n);
    g.append(label);
    svg.append(g);
  });
  box.append(svg);
}

function groupLine(entries) {
  return entries.map((e) => `${e.group}: accuracy ${e.accuracy.toFixed(2)} on ${e.pairs} pairs, ` +
    `largest margin on ${(100 * e.win_share).toFixed(0)}%`).join("; ");
}

function responseList(title, responses) {
  const box = el("div", "responses-list");
  box.append(el("strong", "", title));
  const list = el("ul");
  responses.forEach((text) => list.append(el("li", "", text)));
  box.append(list);
  return box;
}

// The head list: one entry per head, its card's facts (or its description for older checkpoints).
function drawHeadCards(list, count) {
  list.replaceChildren();
  for (let k = 0; k < count; k += 1) {
    const card = view.cards[k];
    const item = el("li", "head-card");
    item.dataset.head = String(k);
    const title = el("div", "head-name");
    const swatch = el("span", "swatch");
    swatch.style.background = headColor(k, count);
    title.append(swatch, headLabel(k).name);
    item.append(title, el("p", "head-summary", headLabel(k).about));
    if (card) {
      const details = el("details");
      details.append(el("summary", "", "details"));
      if (card.best_for.length) details.append(el("p", "", `Best head for — ${groupLine(card.best_for)}`));
      details.append(el("p", "", `Agrees most with — ${groupLine(card.agrees_most)}`));
      details.append(responseList("Scores higher than the other heads:", card.top_responses));
      details.append(responseList("Scores lower:", card.bottom_responses));
      item.append(details);
    }
    list.append(item);
  }
}

// The suggested pair: both texts, which candidates they are, the expected gain.
function drawSuggestion(box, candidates, result) {
  box.replaceChildren();
  if (!result) return;
  const [i, j] = result.pair;
  box.dataset.pair = `${i},${j}`;
  box.append(el("p", "", `Compare candidates ${i + 1} and ${j + 1} next ` +
    `(expected to teach ${result.expected_gain.toFixed(3)} nats about your weights):`));
  const pair = el("div", "responses");
  [i, j].forEach((index, side) => {
    const item = el("blockquote", "suggested");
    item.append(el("strong", "", side === 0 ? "A: " : "B: "), candidates[index]);
    pair.append(item);
  });
  box.append(pair);
}
