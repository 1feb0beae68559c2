// alloop pages: the JSON API with the token kept in localStorage. No build step, no CDN.
"use strict";

const Alloop = {
  get token() { return localStorage.getItem("alloop.token") || ""; },
  set token(value) { localStorage.setItem("alloop.token", value.trim()); },
  get annotator() { return localStorage.getItem("alloop.annotator") || "annotator"; },
  set annotator(value) { localStorage.setItem("alloop.annotator", value.trim() || "annotator"); },

  /** The project id in /ui/projects/{id}/..., or null. */
  projectId() {
    const match = window.location.pathname.match(/\/ui\/projects\/(\d+)\//);
    return match ? Number(match[1]) : null;
  },

  /** "used / budget", in items, or in cost for a budget counted in labeling cost. */
  budgetText(status) {
    if (!status.budget) return `${status.labeled} (no budget)`;
    return status.budget_unit === "cost" ? `${status.spent} / ${status.budget} cost` : `${status.labeled} / ${status.budget}`;
  },

  /** A key that makes a retried label submission count once. */
  newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  },

  /** Call the API; resolves to the JSON answer, rejects with an Error carrying status and detail. */
  async call(method, path, body, headers) {
    const init = { method, headers: Object.assign({}, headers || {}) };
    if (this.token) init.headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!response.ok) {
      const error = new Error((data && data.detail) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  },

  /** Wire the token form shared by the pages; calls onSave after a change. */
  tokenForm(onSave) {
    const form = document.getElementById("token-form");
    if (!form) return;
    const input = form.querySelector("input[name=token]");
    input.value = this.token;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.token = input.value;
      document.body.classList.remove("needs-token");
      onSave();
    });
  },

  /** Show an error; a 401/403 opens the token form. */
  showError(error, element) {
    if (error.status === 401 || error.status === 403) document.body.classList.add("needs-token");
    element.textContent = error.status ? `${error.status}: ${error.message}` : String(error.message || error);
    element.hidden = false;
  },
};
