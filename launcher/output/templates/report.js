"use strict";
// Sorting and filtering of the entries table, in the page: no server, no data in this
// script (it reads the table's cells), nothing written as HTML. The state lives in the
// URL's fragment (#status=blocked&q=api&sort=-duration), so a filtered view can be shared.
(function () {
  const table = document.getElementById("entries-table");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const headers = Array.from(table.tHead.rows[0].cells);
  const search = document.getElementById("filter");
  const select = document.getElementById("status-filter");
  const shown = document.getElementById("shown");
  const buttons = Array.from(document.querySelectorAll("#counts button[data-status]"));
  let sort = "";

  function key(row, index) {
    const cell = row.cells[index];
    return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
  }

  function compare(a, b) {
    const x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    if (a === "" || b === "") return a === "" ? (b === "" ? 0 : 1) : -1;
    return a.localeCompare(b);
  }

  function applySort() {
    const name = sort.replace(/^-/, "");
    const index = headers.findIndex((h) => h.dataset.key === name);
    headers.forEach((h) => h.removeAttribute("aria-sort"));
    const ordered = rows.slice();
    if (index >= 0) {
      const dir = sort.startsWith("-") ? -1 : 1;
      ordered.sort((a, b) => compare(key(a, index), key(b, index)) * dir);
      headers[index].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    }
    for (const row of ordered) body.appendChild(row);
  }

  function applyFilter() {
    const words = search.value.trim().toLowerCase();
    const status = select.value;
    let count = 0;
    for (const row of rows) {
      const keep = (!status || row.dataset.status === status) &&
        (!words || row.textContent.toLowerCase().includes(words));
      row.hidden = !keep;
      if (keep) count += 1;
    }
    shown.textContent = String(count);
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.status === status));
  }

  function save() {
    const state = new URLSearchParams();
    if (select.value) state.set("status", select.value);
    if (search.value) state.set("q", search.value);
    if (sort) state.set("sort", sort);
    const text = state.toString();
    try {
      history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
    } catch (e) {
      // Some browsers refuse it for a file opened from disk: the view still works.
    }
  }

  function load() {
    const state = new URLSearchParams(location.hash.slice(1));
    const status = state.get("status") || "";
    select.value = Array.from(select.options).some((o) => o.value === status) ? status : "";
    search.value = state.get("q") || "";
    sort = state.get("sort") || "";
    applySort();
    applyFilter();
  }

  headers.forEach((h) => h.addEventListener("click", () => {
    sort = sort === h.dataset.key ? "-" + h.dataset.key : h.dataset.key;
    applySort();
    save();
  }));
  search.addEventListener("input", () => { applyFilter(); save(); });
  select.addEventListener("change", () => { applyFilter(); save(); });
  for (const b of buttons) {
    b.addEventListener("click", () => {
      select.value = select.value === b.dataset.status ? "" : b.dataset.status;
      applyFilter();
      save();
    });
  }
  window.addEventListener("hashchange", load);
  load();
  document.documentElement.dataset.ready = "1";
})();
