// Upload page: sends the file to the API with the team's token, then follows the job until it ends.
// Every text from the server is inserted with textContent, never as HTML.
(function () {
  "use strict";
  const form = document.getElementById("upload");
  const api = form.dataset.api;
  const ended = new Set(["done", "failed", "cancelled"]);

  function show(id, visible) { document.getElementById(id).hidden = !visible; }
  function text(id, value) { document.getElementById(id).textContent = value; }

  function listProblems(items) {
    const list = document.getElementById("problem-list");
    list.replaceChildren(...items.map(function (item) {
      const li = document.createElement("li");
      li.textContent = item;
      return li;
    }));
    show("problems", true);
  }

  async function follow(url, token) {
    const headers = { Authorization: "Bearer " + token };
    for (;;) {
      const response = await fetch(url, { headers: headers });
      if (!response.ok) { listProblems(["the job could not be read: HTTP " + response.status]); return; }
      const job = await response.json();
      const state = document.getElementById("job-state");
      state.textContent = job.state;
      state.className = "state state-" + job.state;
      text("job-reason", job.reason || "");
      const history = document.getElementById("job-history");
      history.replaceChildren(...(job.history || []).map(function (event) {
        const li = document.createElement("li");
        li.textContent = event.at + " " + event.state + (event.detail ? ": " + event.detail : "");
        return li;
      }));
      if (ended.has(job.state)) {
        if (job.state === "done") { await scores(job, headers); }
        return;
      }
      await new Promise(function (resolve) { setTimeout(resolve, 1000); });
    }
  }

  async function scores(job, headers) {
    const response = await fetch(api + "/jobs/" + job.id + "/files/report.json", { headers: headers });
    if (!response.ok) { return; }
    const report = await response.json();
    const table = document.createElement("table");
    table.className = "scores";
    const head = table.createTHead().insertRow();
    ["task", "protocol", "score (%)"].forEach(function (label) {
      const th = document.createElement("th");
      th.textContent = label;
      head.appendChild(th);
    });
    const body = table.createTBody();
    (report.tasks || [report]).forEach(function (task) {
      task.results.forEach(function (result) {
        const value = result.map !== undefined ? result.map : result.accuracy;
        if (value === undefined) { return; }
        const row = body.insertRow();
        [task.task, result.protocol, value === null ? "n/a" : (100 * value).toFixed(1)].forEach(function (cell) {
          row.insertCell().textContent = cell;
        });
      });
    });
    document.getElementById("job-scores").replaceChildren(table);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    show("problems", false);
    const file = document.getElementById("file").files[0];
    const token = document.getElementById("token").value.trim();
    const query = new URLSearchParams({ filename: file.name });
    const task = document.getElementById("task").value;
    const name = document.getElementById("name").value.trim();
    if (task) { query.set("task", task); }
    if (name) { query.set("name", name); }
    document.getElementById("send").disabled = true;
    try {
      const response = await fetch(api + "/submissions?" + query.toString(), {
        method: "POST", body: file,
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/octet-stream" },
      });
      const answer = await response.json().catch(function () { return {}; });
      if (response.status === 202) {
        text("job-id", String(answer.id));
        show("job", true);
        await follow(answer.url, token);
      } else if (answer.problems) {
        listProblems(answer.problems.map(function (p) { return p.message; }));
      } else {
        listProblems([answer.detail || "the server answered HTTP " + response.status]);
      }
    } finally {
      document.getElementById("send").disabled = false;
    }
  });
})();
