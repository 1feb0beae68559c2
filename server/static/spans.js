// Span labeling (task "spans"): select words with the mouse, press a type's key (1-9, or its first letter
// where no other type shares it), click a span to remove it, Enter sends the spans (none: "no entity").
"use strict";

const SpanLabeling = (() => {
  const st = { projectId: null, types: [], keys: [], item: null, spans: [], pending: null, busy: false, labeled: 0, timer: null };
  const $ = (id) => document.getElementById(id);

  /** Each type's keys: its number (1-9) and its first letter where that letter is no other type's. */
  function typeKeys(types) {
    const firsts = types.map((t) => t[0].toLowerCase());
    return types.map((t, i) => {
      const keys = i < 9 ? [String(i + 1)] : [];
      if (firsts.filter((f) => f === firsts[i]).length === 1 && /[a-z]/.test(firsts[i])) keys.push(firsts[i]);
      return keys;
    });
  }

  function renderTypes() {
    const box = $("labels");
    box.textContent = "";
    st.types.forEach((type, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = type;
      button.textContent = type;
      for (const key of st.keys[i]) {
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        button.appendChild(kbd);
      }
      button.addEventListener("click", () => assign(type));
      box.appendChild(button);
    });
    $("hint").textContent = "Select words with the mouse, then press a type's key (or click it). Click a span to remove it. Enter sends (no span: no entity).";
  }

  /** The text with each span as a <mark> (its type shown by CSS, so the text nodes hold the text alone). */
  function renderText() {
    const box = $("item-text");
    box.textContent = "";
    const text = st.item.text || "";
    let at = 0;
    st.spans.forEach((span, i) => {
      box.appendChild(document.createTextNode(text.slice(at, span.start)));
      const mark = document.createElement("mark");
      mark.className = "span";
      mark.dataset.label = span.label;
      mark.dataset.index = String(i);
      mark.title = `${span.label}: click to remove`;
      mark.textContent = text.slice(span.start, span.end);
      mark.addEventListener("click", () => remove(i));
      box.appendChild(mark);
      at = span.end;
    });
    box.appendChild(document.createTextNode(text.slice(at)));
    const pending = st.pending ? ` Selected “${text.slice(st.pending.start, st.pending.end)}”: press a type's key.` : "";
    $("status").textContent = `${st.spans.length} span${st.spans.length === 1 ? "" : "s"}.${pending}`;
  }

  /** Character offsets of the selection inside the text, its whitespace ends left out; null if none. */
  function selected() {
    const selection = window.getSelection();
    const box = $("item-text");
    if (!selection || selection.isCollapsed || !selection.rangeCount) return null;
    const range = selection.getRangeAt(0);
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.setStart(box, 0);
    before.setEnd(range.startContainer, range.startOffset);
    let start = before.toString().length;
    let end = start + range.toString().length;
    const text = st.item.text;
    while (start < end && /\s/.test(text[start])) start += 1;
    while (end > start && /\s/.test(text[end - 1])) end -= 1;
    return end > start ? { start, end } : null;
  }

  function assign(type) {
    if (!st.pending) return;
    const { start, end } = st.pending;
    // a new span replaces those it overlaps: one span per character, as the BIO tagger learns them
    st.spans = st.spans.filter((s) => s.end <= start || s.start >= end);
    st.spans.push({ start, end, label: type });
    st.spans.sort((a, b) => a.start - b.start);
    st.pending = null;
    window.getSelection().removeAllRanges();
    renderText();
  }

  function remove(index) {
    st.spans.splice(index, 1);
    renderText();
  }

  function show(section) {
    for (const id of ["item", "waiting", "finished"]) $(id).hidden = id !== section;
  }

  function showItem(item) {
    st.item = item;
    st.pending = null;
    const suggestion = item.suggestion;
    st.spans = suggestion ? suggestion.label.map((s) => ({ ...s })) : [];
    $("item-id").textContent = `item ${item.id}` + (item.model_version ? ` · ranked by model v${item.model_version}` : "");
    $("suggestion").hidden = !suggestion;
    if (suggestion) $("suggestion").textContent = `Model v${suggestion.model_version} marked ${suggestion.label.length} span(s): fix them, then Enter.`;
    renderText();
    show("item");
  }

  async function fetchNext() {
    clearTimeout(st.timer);
    const batch = await Alloop.call("POST", `/projects/${st.projectId}/next`, { annotator: Alloop.annotator, n: 1 });
    if (batch.done) {
      st.item = null;
      $("finished-text").textContent = `The campaign is finished (${batch.reason || "done"}).`;
      show("finished");
    } else if (batch.items.length) {
      showItem(batch.items[0]);
    } else {
      st.item = null;
      $("waiting-text").textContent = `No item is free right now (${batch.reason || "waiting"}). Checking again shortly…`;
      show("waiting");
      st.timer = setTimeout(() => fetchNext().catch(fail), 1000 * Math.min(5, Math.max(0.5, batch.retry_after || 2)));
    }
  }

  async function submit() {
    if (!st.item || st.busy) return;
    st.busy = true;
    const item = st.item;
    const spans = st.spans.map(({ start, end, label }) => ({ start, end, label }));
    const body = { labels: [{ item_id: item.id, label: spans, annotator: Alloop.annotator }] };
    try {
      const answer = await Alloop.call("POST", `/projects/${st.projectId}/labels`, body, { "Idempotency-Key": Alloop.newKey() });
      st.labeled += answer.accepted;
      $("error").hidden = true;
      await fetchNext();
      $("status").textContent = `Sent ${item.id} with ${spans.length} span(s). ${st.labeled} labeled in this session.`;
    } catch (error) {
      fail(error);
    } finally {
      st.busy = false;
    }
  }

  function fail(error) { Alloop.showError(error, $("error")); }

  function onKey(event) {
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey || !st.item) return;
    if (event.key === "Enter") {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") {
      st.pending = null;
      renderText();
    } else {
      const index = st.keys.findIndex((keys) => keys.includes(event.key.toLowerCase()));
      if (index >= 0 && st.pending) {
        event.preventDefault();
        assign(st.types[index]);
      }
    }
  }

  function start(projectId, info) {
    st.projectId = projectId;
    st.types = info.labels;
    st.keys = typeKeys(info.labels);
    renderTypes();
    document.addEventListener("keydown", onKey);
    $("item-text").addEventListener("mouseup", () => {
      const found = selected();
      if (found) { st.pending = found; renderText(); }
    });
    return fetchNext();
  }

  return { start, typeKeys };
})();
window.SpanLabeling = SpanLabeling;
