// The dashboard: budget, stop state, learning curve, forecast (when the server has one), label review,
// annotator quality, class balance, duplicate groups and eval leakage.
"use strict";

const projectId = Alloop.projectId();
const $ = (id) => document.getElementById(id);
let timer = null;
let multilabel = false;  // a multilabel project: micro-F1 first (issue 20)

function renderStatus(status) {
  $("project-name").textContent = status.name;
  const state = status.state === "done" ? `done: ${status.stop_reason || "stopped"}` : status.state;
  $("stat-state").textContent = state;
  $("stat-state").className = `state-${status.state}`;
  $("stat-budget").textContent = Alloop.budgetText(status);
  $("stat-left").textContent = status.budget_left === null || status.budget_left === undefined ? "∞" : status.budget_left;
  $("stat-model").textContent = status.model_version ? `v${status.model_version}` : "none yet";
  multilabel = status.task === "multilabel";
  const metric = (status.target && status.target.metric)
    || (multilabel ? "micro_f1" : status.task === "spans" ? "entity_f1" : "accuracy");
  const value = status.metrics ? status.metrics[metric] : null;
  $("stat-metric-name").textContent = status.target ? `${metric} (target ${status.target.value})` : metric;
  $("stat-metric").textContent = typeof value === "number" ? value.toFixed(3) : "–";
  $("stat-activity").textContent = activityText(status);
  $("stat-dups").textContent = duplicatesText(status.duplicates);
  $("stat-leak").textContent = leakageText(status.leakage_report);
}

/** Duplicate groups and the labels skipping saved ("off" when the project serves duplicates). */
function duplicatesText(dup) {
  if (!dup) return "–";
  if (dup.setting === "off") return "off";
  const copied = dup.propagated ? ` · ${dup.propagated} copied` : "";
  return `${dup.groups} · ${dup.skipped}${copied}`;
}

/** Eval items that duplicate pool items, and how many pool items were dropped for it. */
function leakageText(leak) {
  if (!leak) return "–";
  return leak.dropped ? `${leak.eval_items} (${leak.dropped} dropped)` : `${leak.eval_items}`;
}

/** What the loop is doing: embedding (with its progress), training, the final round, or settled. */
function activityText(status) {
  const e = status.embedding;
  if (status.activity === "embedding" && e) {
    const eta = e.eta_seconds === null || e.eta_seconds === undefined ? "" : `, ~${Math.ceil(e.eta_seconds)} s left`;
    return `embedding ${e.done}/${e.total}${eta}`;
  }
  if (status.activity === "final_round") return "final round (figures not final yet)";
  if (status.activity) return status.activity.replace(/_/g, " ");
  if (status.state === "done") return status.settled ? "settled" : "settling";
  const ranking = status.ranking;
  return ranking ? `idle (ranking ${ranking.stale_labels} labels behind)` : "idle";
}

/** The forecast's fitted curve a - b * n^(-c), from the first point out to the labels it predicts. */
function fittedSeries(curve, forecast) {
  const model = forecast && forecast.model;
  if (!model || !model.params || !curve.length || forecast.metric === undefined) return null;
  const { a, b, c } = model.params;
  const start = Math.max(1, Math.min(...curve.map((p) => p.labels)));
  const end = Math.max(forecast.total_labels || 0, ...curve.map((p) => p.labels));
  const points = [];
  for (let i = 0; i <= 40; i += 1) {
    const n = start + ((end - start) * i) / 40;
    points.push([Math.round(n), a - b * Math.pow(n, -c)]);
  }
  return { name: `forecast ${forecast.metric}`, color: "#7c3aed", dashed: true, points };
}

function renderCurve(curve, target, forecast) {
  $("curve-empty").hidden = curve.length > 0;
  const spans = curve.some((p) => p.entity_f1 !== undefined);  // a spans project: entity-level scores
  const series = multilabel ? [
    { name: "micro F1", color: "#2563eb", points: curve.map((p) => [p.labels, p.micro_f1]) },
    { name: "macro F1", color: "#d97706", points: curve.map((p) => [p.labels, p.macro_f1]) },
    { name: "subset accuracy", color: "#0f766e", points: curve.map((p) => [p.labels, p.subset_accuracy]) },
  ] : spans ? [
    { name: "entity F1", color: "#2563eb", points: curve.map((p) => [p.labels, p.entity_f1]) },
    { name: "entity precision", color: "#d97706", points: curve.map((p) => [p.labels, p.entity_precision]) },
    { name: "entity recall", color: "#0891b2", points: curve.map((p) => [p.labels, p.entity_recall]) },
  ] : [
    { name: "accuracy", color: "#2563eb", points: curve.map((p) => [p.labels, p.accuracy]) },
    { name: "macro F1", color: "#d97706", points: curve.map((p) => [p.labels, p.macro_f1]) },
  ];
  if (target && curve.length) {
    const xs = curve.map((p) => p.labels);
    series.push({ name: `target ${target.metric}`, color: "#15803d", dashed: true,
      points: [[Math.min(...xs), target.value], [Math.max(...xs), target.value]] });
  }
  const fitted = fittedSeries(curve, forecast);
  if (fitted) series.push(fitted);
  lineChart($("curve"), series, { xLabel: "labels", yMin: 0, yMax: 1 });
}

function renderForecast(forecast) {
  const table = $("forecast");
  table.textContent = "";
  for (let [key, value] of Object.entries(forecast || {})) {
    if (key === "project_id") continue;
    if (value === null) value = "–";
    if (Array.isArray(value)) value = value.map((v) => (v === null ? "?" : v)).join(" – ");
    if (typeof value === "object") continue;
    const row = table.insertRow();
    row.insertCell().textContent = key.replace(/_/g, " ");
    row.insertCell().textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : String(value);
  }
  $("forecast-card").hidden = table.rows.length === 0;
}

const percent = (rate) => (rate === null || rate === undefined ? "–" : `${Math.round(100 * rate)}%`);

/** The review queue and what reviews found (only for a project with review on, or with reviews done). */
function renderReview(review) {
  const table = $("review");
  table.textContent = "";
  const show = review && (review.enabled || review.reviews > 0);
  $("review-card").hidden = !show;
  if (!show) return;
  const check = review.last_check;
  const rows = [
    ["suspects waiting", review.suspects], ["in review now", review.in_review], ["reviews", review.reviews],
    ["confirmed", review.confirmed], ["replaced", `${review.replaced} (${percent(review.replaced_rate)})`],
    ["budget spent on reviews", review.spent],
    ["last check", check ? `${check.method}, ${check.checked} labels, ${check.suspects} suspects, ${check.seconds} s`
      + (check.error ? ` — ${check.error}` : "") : "none yet"],
  ];
  for (const [key, value] of rows) {
    const row = table.insertRow();
    row.dataset.key = key;
    row.insertCell().textContent = key;
    row.insertCell().textContent = String(value);
  }
}

/** Per annotator: answers, agreement with the final labels and with reviews, reviews given. */
function renderAnnotators(annotators) {
  const body = $("annotators").tBodies[0];
  body.textContent = "";
  $("annotators-card").hidden = !annotators || annotators.length === 0;
  for (const a of annotators || []) {
    const row = body.insertRow();
    row.dataset.annotator = a.annotator;
    for (const value of [a.annotator, a.answers, percent(a.agreement), a.reviewed, percent(a.review_agreement),
      a.reviews_given]) {
      row.insertCell().textContent = String(value);
    }
  }
}

function renderBalance(labels, counts) {
  const box = $("balance");
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (!total) { box.innerHTML = '<p class="muted">No labels yet.</p>'; return; }
  box.textContent = "";
  const most = Math.max(...Object.values(counts));
  for (const label of labels) {
    const n = counts[label] || 0;
    const row = document.createElement("div");
    row.className = "bar-row";
    row.dataset.label = label;
    const name = document.createElement("span");
    name.textContent = label;
    const track = document.createElement("div");
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${(100 * n) / most}%`;
    track.appendChild(bar);
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${n} (${Math.round((100 * n) / total)}%)`;
    row.append(name, track, count);
    box.appendChild(row);
  }
}

async function labelCounts() {
  const response = await fetch(`/projects/${projectId}/export?format=jsonl`,
    { headers: Alloop.token ? { Authorization: "Bearer " + Alloop.token } : {} });
  if (!response.ok) return {};
  const counts = {};
  for (const line of (await response.text()).split("\n")) {
    if (!line.trim()) continue;
    const label = JSON.parse(line).label;
    for (const one of Array.isArray(label) ? label : [label]) counts[one] = (counts[one] || 0) + 1;  // a set: each label
  }
  return counts;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const status = await Alloop.call("GET", `/projects/${projectId}`);
    renderStatus(status);
    renderReview(status.review_queue);
    renderAnnotators(status.annotators);
    const metrics = await Alloop.call("GET", `/projects/${projectId}/metrics`);
    let forecast = null;
    try {
      forecast = await Alloop.call("GET", `/projects/${projectId}/forecast`);
    } catch (_) {
      forecast = null;  // no forecast endpoint, or no target to forecast
    }
    renderForecast(forecast);
    renderCurve(metrics.curve, status.target, forecast);
    renderBalance(status.labels, await labelCounts());
    $("error").hidden = true;
    document.body.dataset.loaded = "true";
  } catch (error) {
    Alloop.showError(error, $("error"));
  }
  timer = setTimeout(refresh, 3000);
}

$("label-link").href = `/ui/projects/${projectId}/label`;
Alloop.tokenForm(refresh);
refresh();
