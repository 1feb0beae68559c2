// Multi-label projects on the labeling page: each label is a toggle, the answer is the set toggled on.
// Keys: 1-9 then 0 toggle the first ten labels, Enter sends the set (at least one label on), "n" sends
// "none of these apply" (the empty set, an explicit answer). The model's suggested set, where the project
// shows suggestions, starts toggled on.
"use strict";

const MultiLabel = {
  on: new Set(),

  /** Number keys for the first ten labels, whatever the labels are called. */
  keys(labels) {
    return labels.map((_, i) => (i < 9 ? String(i + 1) : i === 9 ? "0" : null));
  },

  buttons() { return document.querySelectorAll("#labels button[data-label]"); },

  /** Turn the label buttons into toggles and add the send and "none apply" buttons. */
  setup(labels) {
    this.buttons().forEach((button) => {
      button.setAttribute("aria-pressed", "false");
      const fresh = button.cloneNode(true);  // drop the one-click submit handler
      fresh.addEventListener("click", () => this.toggle(fresh.dataset.label));
      button.replaceWith(fresh);
    });
    const box = document.getElementById("labels");
    const send = document.createElement("button");
    send.type = "button";
    send.id = "send-set";
    send.textContent = "send";
    send.appendChild(Object.assign(document.createElement("kbd"), { textContent: "Enter" }));
    send.addEventListener("click", () => this.send());
    const none = document.createElement("button");
    none.type = "button";
    none.id = "none-apply";
    none.textContent = "none apply";
    none.appendChild(Object.assign(document.createElement("kbd"), { textContent: "n" }));
    none.addEventListener("click", () => submit([]));
    box.append(send, none);
    this.render();
    document.getElementById("hint").textContent =
      "Toggle every label that applies (click, or press its number), then press Enter; n: none apply.";
  },

  render() {
    this.buttons().forEach((b) => {
      const on = this.on.has(b.dataset.label);
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", String(on));
    });
    document.getElementById("send-set").disabled = this.on.size === 0;
  },

  toggle(label) {
    if (!page.item || page.busy) return;
    if (this.on.has(label)) this.on.delete(label); else this.on.add(label);
    this.render();
  },

  /** A new item: start from the model's suggested set, or from nothing. */
  reset(item) {
    this.on = new Set(item && item.suggestion ? item.suggestion.label : []);
    this.render();
  },

  /** Send the toggled set, in the project's label order. */
  send() {
    if (!this.on.size) {
      document.getElementById("status").textContent = "Toggle at least one label, or press n if none apply.";
      return;
    }
    submit(page.labels.filter((label) => this.on.has(label)));
  },

  describe(answer) { return answer.length ? answer.join(", ") : "none apply"; },

  suggestionText(suggestion) {
    const set = suggestion.label.length ? suggestion.label.map((l) => `“${l}”`).join(", ") : "none of the labels";
    return `Model v${suggestion.model_version} suggests ${set} (toggled on below): press Enter to confirm, or change them.`;
  },

  onKey(event) {
    if (event.key === "Enter") {
      event.preventDefault();
      this.send();
      return true;
    }
    if (event.key.toLowerCase() === "n") {
      event.preventDefault();
      if (page.item) submit([]);
      return true;
    }
    const index = page.keys.indexOf(event.key);
    if (index >= 0) {
      event.preventDefault();
      this.toggle(page.labels[index]);
      return true;
    }
    return false;
  },
};
