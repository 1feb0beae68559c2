// The project list, with links to each project's labeling page and dashboard.
"use strict";

async function load() {
  const body = document.getElementById("projects");
  try {
    const answer = await Alloop.call("GET", "/projects");
    body.textContent = "";
    for (const p of answer.projects) {
      const row = body.insertRow();
      row.insertCell().textContent = p.id;
      row.insertCell().textContent = p.name;
      row.insertCell().textContent = p.state === "done" ? `done (${p.stop_reason})` : p.state;
      row.insertCell().textContent = p.budget ? Alloop.budgetText(p) : p.labeled;
      const links = row.insertCell();
      links.innerHTML = `<a href="/ui/projects/${p.id}/label">label</a> · <a href="/ui/projects/${p.id}/dashboard">dashboard</a>`;
    }
    document.getElementById("error").hidden = true;
  } catch (error) {
    Alloop.showError(error, document.getElementById("error"));
  }
}

Alloop.tokenForm(load);
load();
