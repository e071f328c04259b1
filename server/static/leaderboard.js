// Leaderboard enhancements: sort a table by clicking a column heading, filter by benchmark and model family
// without reloading. Without this script the same links and form do both on the server.
(function () {
  "use strict";
  const benchmark = document.getElementById("filter-benchmark");
  const family = document.getElementById("filter-family");

  function value(row, index, numeric) {
    const raw = row.cells[index].dataset.value;
    if (raw === undefined || raw === "") { return null; }
    return numeric ? parseFloat(raw) : raw;
  }

  function sortBy(table, th) {
    const numeric = th.dataset.type === "number";
    const current = th.getAttribute("aria-sort");
    const descending = current ? current === "ascending" : numeric;
    const index = th.cellIndex;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = value(a, index, numeric), y = value(b, index, numeric);
      if (x === null || y === null) { return (x === null) - (y === null); }  // empty cells last
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach(function (row, i) {
      body.appendChild(row);
      row.querySelector("td.rank").textContent = String(i + 1);
    });
    table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  document.querySelectorAll("table.leaderboard").forEach(function (table) {
    table.querySelectorAll("th[data-column] a.sort").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        sortBy(table, link.parentElement);
      });
    });
  });

  function applyFilters() {
    let shown = 0;
    document.querySelectorAll("section.board").forEach(function (section) {
      section.hidden = Boolean(benchmark.value) && section.dataset.benchmark !== benchmark.value;
      section.querySelectorAll("tbody tr").forEach(function (row) {
        row.hidden = Boolean(family.value) && row.dataset.family !== family.value;
        if (!section.hidden && !row.hidden) { shown += 1; }
      });
    });
    document.getElementById("shown-count").textContent = shown + " rows shown";
    const query = new URLSearchParams(window.location.search);
    [["benchmark", benchmark.value], ["family", family.value]].forEach(function (pair) {
      if (pair[1]) { query.set(pair[0], pair[1]); } else { query.delete(pair[0]); }
    });
    if (window.location.protocol !== "file:") {
      const search = query.toString();
      window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
    }
  }

  // A static export gets its filters from the address (index.html?family=mfcc), a live page from the server.
  const given = new URLSearchParams(window.location.search);
  if (given.get("benchmark")) { benchmark.value = given.get("benchmark"); }
  if (given.get("family")) { family.value = given.get("family"); }
  [benchmark, family].forEach(function (select) { select.addEventListener("change", applyFilters); });
  document.querySelector("#filters .apply").hidden = true;
  applyFilters();
})();
