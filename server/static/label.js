// The labeling page: lease one item, show it, send the chosen label, show the next one.
"use strict";

const page = {
  projectId: Alloop.projectId(),
  labels: [],
  keys: [],
  item: null,
  busy: false,
  labeled: 0,
  waitTimer: null,
  multi: false,  // a multilabel project: toggles and a set per answer (label_multi.js)
};
const $ = (id) => document.getElementById(id);

/**
 * The key for each label: the label itself where every label is one distinct character
 * ("0".."9" for digits, "y"/"n"), else 1-9 then 0 for the first ten labels.
 */
function labelKeys(labels) {
  const single = labels.every((l) => l.length === 1 && l.trim()) && new Set(labels.map((l) => l.toLowerCase())).size === labels.length;
  if (single) return labels.map((l) => l.toLowerCase());
  return labels.map((_, i) => (i < 9 ? String(i + 1) : i === 9 ? "0" : null));
}

function renderLabels() {
  const box = $("labels");
  box.textContent = "";
  page.labels.forEach((label, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.label = label;
    button.textContent = label;
    const key = page.keys[index];
    if (key) {
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      button.appendChild(kbd);
    }
    button.addEventListener("click", () => submit(label));
    box.appendChild(button);
  });
}

function renderMeta(meta) {
  const box = $("item-meta");
  box.textContent = "";
  const rows = Object.entries(meta || {}).filter(([key]) => !["text", "image", "image_url"].includes(key));
  if (!rows.length) return;
  const table = document.createElement("table");
  for (const [key, value] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = typeof value === "string" ? value : JSON.stringify(value);
  }
  box.appendChild(table);
}

function describeFeatures(features) {
  const head = features.slice(0, 8).map((v) => Number(v).toFixed(2)).join(", ");
  return `vector of ${features.length} numbers: [${head}${features.length > 8 ? ", …" : ""}]`;
}

/** A meta field usable as an image source (tools that put links in meta before image_url existed). */
function looksLikeImage(value) {
  return typeof value === "string" && /^(https?:\/\/|\/[^/]|data:image\/(png|jpeg);base64,)/.test(value);
}

/** Small images (an 8x8 digit) are scaled up by whole pixels, crisp; large ones fit the card. */
function fitImage(img) {
  const side = Math.max(img.naturalWidth, img.naturalHeight);
  img.classList.toggle("pixelated", side > 0 && side < 96);
  img.style.width = side > 0 && side < 96 ? `${img.naturalWidth * Math.floor(256 / side)}px` : "";
}

function showSuggestion(item) {
  const suggestion = item.suggestion;
  const box = $("suggestion");
  document.querySelectorAll("#labels button").forEach((b) => b.classList.toggle("suggested", !!suggestion && b.dataset.label === suggestion.label));
  box.hidden = !suggestion;
  if (page.multi) {
    MultiLabel.reset(item);
    if (suggestion) box.textContent = MultiLabel.suggestionText(suggestion);
    return;
  }
  if (!suggestion) return;
  const sure = suggestion.confidence == null ? "" : ` (${Math.round(suggestion.confidence * 100)}% sure)`;
  box.textContent = `Model v${suggestion.model_version} suggests “${suggestion.label}”${sure}: press Enter to confirm, or pick another label.`;
}

function showItem(item) {
  page.item = item;
  const meta = item.meta || {};
  $("item-id").textContent = `item ${item.id}` + (item.model_version ? ` · ranked by model v${item.model_version}` : "");
  const image = item.image || item.image_url || [meta.image_url, meta.image].find(looksLikeImage);
  const img = $("item-image");
  img.hidden = !image;
  if (image) {
    img.onload = () => fitImage(img);
    img.alt = `image of item ${item.id}`;
    img.src = image;
  }
  // a vector's numbers only when there is nothing better to look at
  $("item-text").textContent = item.text || meta.text || (item.features && !image ? describeFeatures(item.features) : "");
  renderMeta(meta);
  document.querySelectorAll("#labels button").forEach((b) => { b.disabled = false; b.classList.remove("chosen"); });
  showSuggestion(item);
  show("item");
}

function show(section) {
  for (const id of ["item", "waiting", "finished"]) $(id).hidden = id !== section;
}

async function fetchNext() {
  clearTimeout(page.waitTimer);
  const batch = await Alloop.call("POST", `/projects/${page.projectId}/next`, { annotator: Alloop.annotator, n: 1 });
  if (batch.done) {
    page.item = null;
    $("finished-text").textContent = `The campaign is finished (${batch.reason || "done"}).`;
    show("finished");
  } else if (batch.items.length) {
    showItem(batch.items[0]);
  } else {
    page.item = null;
    $("waiting-text").textContent = waitingText(batch.reason, batch.retry_after);
    show("waiting");
    const seconds = Math.min(5, Math.max(0.5, batch.retry_after || 2));
    page.waitTimer = setTimeout(() => fetchNext().catch(fail), seconds * 1000);
  }
}

/** Why no item came, as the server said (reason, retry_after in seconds). */
function waitingText(reason, retryAfter) {
  const when = retryAfter ? ` (about ${Math.ceil(retryAfter)} s)` : "";
  const why = {
    training: `The model is retraining on the newest labels${when}; the next items come from its ranking.`,
    cold_start: `Choosing the first items to label${when}…`,
    embedding: `The items are still being embedded${when}; labeling starts once they all are.`,
    awaiting_labels: "The items chosen by the current model are all out with annotators; more come once some are labeled.",
    leased: `Every free item is held by another annotator${when}.`,
    empty: "The pool has no unlabeled item right now.",
  }[reason];
  return (why || "No item is free right now") + " Checking again shortly…";
}

async function submit(label) {
  if (!page.item || page.busy) return;
  page.busy = true;
  const item = page.item;
  document.querySelectorAll("#labels button").forEach((b) => {
    b.disabled = true;
    b.classList.toggle("chosen", !page.multi && b.dataset.label === label);
  });
  const body = { labels: [{ item_id: item.id, label, annotator: Alloop.annotator }] };
  try {
    const answer = await Alloop.call("POST", `/projects/${page.projectId}/labels`, body, { "Idempotency-Key": Alloop.newKey() });
    page.labeled += answer.accepted;
    const note = answer.rejected && answer.rejected.length ? ` (not counted: ${answer.rejected[0].reason})` : "";
    $("error").hidden = true;
    await fetchNext();  // the status below appears together with the next item
    const shown = page.multi ? MultiLabel.describe(label) : label;
    $("status").textContent = `Labeled ${item.id} as “${shown}”${note}. ${page.labeled} labeled in this session.`;
  } catch (error) {
    fail(error);
    document.querySelectorAll("#labels button").forEach((b) => { b.disabled = false; });
  } finally {
    page.busy = false;
  }
}

function fail(error) { Alloop.showError(error, $("error")); }

document.addEventListener("keydown", (event) => {
  if (page.task === "spans") return;  // spans.js has its own keys
  if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
  if (page.multi) {
    MultiLabel.onKey(event);
    return;
  }
  if (event.key === "Enter" && page.item && page.item.suggestion) {
    event.preventDefault();
    submit(page.item.suggestion.label);
    return;
  }
  const index = page.keys.indexOf(event.key.toLowerCase());
  if (index >= 0) {
    event.preventDefault();
    submit(page.labels[index]);
  }
});

async function start() {
  $("error").hidden = true;
  try {
    const info = await Alloop.call("GET", `/projects/${page.projectId}/labeling`);
    page.labels = info.labels;
    page.multi = info.task === "multilabel";
    page.keys = page.multi ? MultiLabel.keys(info.labels) : labelKeys(info.labels);
    $("project-name").textContent = info.name;
    document.title = `alloop · label · ${info.name}`;
    page.task = info.task;
    if (info.task === "spans") {  // select spans of the text and type them (spans.js)
      await SpanLabeling.start(page.projectId, info);
      return;
    }
    renderLabels();
    if (page.multi) MultiLabel.setup(info.labels);
    await fetchNext();
  } catch (error) {
    fail(error);
  }
}

$("dashboard-link").href = `/ui/projects/${page.projectId}/dashboard`;
const annotatorInput = document.querySelector("#annotator-form input");
annotatorInput.value = Alloop.annotator;
// A new name applies from the next label on (the item shown stays leased to the old name).
annotatorInput.addEventListener("change", () => { Alloop.annotator = annotatorInput.value; });
document.getElementById("annotator-form").addEventListener("submit", (e) => { e.preventDefault(); annotatorInput.blur(); });
Alloop.tokenForm(start);
start();
