// oss serve: keeps the Fleet page current while an apply runs and as nodes' health changes.
// Events come from /api/events (server-sent events, one per resource added, changed or
// removed, and one per health verdict that changed); rows are
// built with textContent only, so no value is ever read as HTML.
"use strict";
(function () {
  const body = document.getElementById("fleet-rows");
  if (!body || !window.EventSource) return;
  const paged = document.querySelector("nav.pager") !== null;
  const status = document.getElementById("live");
  const money = (p, c, digits) => (p === null || p === undefined ? "–" : p.toFixed(digits) + " " + (c || "USD"));
  // Sums per currency, never added across ("8.47 USD + 6.20 EUR"), as the page renders them.
  const sums = (costs, key, digits) =>
    costs && costs.length ? costs.map((c) => money(c[key], c.currency, digits)).join(" + ") : money(0, null, digits);
  const nodeHref = (a) => "/nodes/" + encodeURIComponent(a);
  // Verdicts from `health` events: rows rebuilt from state changes keep them.
  const healthOf = {};
  for (const tr of body.rows) if (tr.dataset.health) healthOf[tr.dataset.address] = tr.dataset.health;

  function cell(tag, text, cls) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== null) el.textContent = text;
    return el;
  }

  function rowOf(r) {
    const tr = document.createElement("tr");
    tr.dataset.address = r.address;
    tr.dataset.status = r.status;
    const health = r.health || healthOf[r.address] || null;
    if (health) tr.dataset.health = health;
    const th = cell("th", null);
    th.scope = "row";
    const a = cell("a", r.address);
    a.href = nodeHref(r.address);
    th.appendChild(a);
    tr.appendChild(th);
    tr.appendChild(cell("td", r.group || "–"));
    tr.appendChild(cell("td", r.provider));
    tr.appendChild(cell("td", r.location));
    tr.appendChild(cell("td", r.size));
    const st = cell("td", null);
    st.appendChild(cell("span", r.status, "status " + r.status));
    tr.appendChild(st);
    const hc = cell("td", health ? null : "–", "health-cell");
    if (health) hc.appendChild(cell("span", health, "health " + health));
    tr.appendChild(hc);
    tr.appendChild(cell("td", r.ip || "–"));
    tr.appendChild(cell("td", money(r.hourly_price, r.currency, 4), "num"));
    tr.appendChild(cell("td", money(r.monthly_price, r.currency, 2), "num"));
    return tr;
  }

  function find(address) {
    for (const tr of body.rows) if (tr.dataset.address === address) return tr;
    return null;
  }

  function totals(change) {
    const t = change.totals;
    const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
    set("total-nodes", String(t.nodes));
    set("total-resources", String(t.resources));
    set("total-hourly", sums(t.costs, "hourly", 4));
    set("total-monthly", sums(t.costs, "monthly", 2));
    if (status) {
      const steps = change.journal_steps ? " Apply in progress: " + change.journal_steps + " step(s) in the journal." : "";
      status.textContent = (change.serial === null ? "No state yet." : "State serial " + change.serial + ".") + steps;
    }
  }

  const source = new EventSource("/api/events");
  const upsert = (e) => {
    const change = JSON.parse(e.data);
    const row = rowOf(change.row);
    const old = find(change.address);
    if (old) old.replaceWith(row);
    else if (!paged) body.appendChild(row);
    totals(change);
  };
  source.addEventListener("health", (e) => {
    const change = JSON.parse(e.data);
    if (change.row && change.row.health) healthOf[change.address] = change.row.health;
    const old = find(change.address);
    if (old) old.replaceWith(rowOf(change.row));
    // Counts are exact only when every row is on this page.
    if (!paged) for (const s of ["up", "down", "unknown"]) {
      const el = document.getElementById("total-health-" + s);
      if (el) el.textContent = String(Object.values(healthOf).filter((h) => h === s).length);
    }
  });
  source.addEventListener("added", upsert);
  source.addEventListener("changed", upsert);
  source.addEventListener("removed", (e) => {
    const change = JSON.parse(e.data);
    const old = find(change.address);
    if (old) old.remove();
    totals(change);
  });
  source.addEventListener("state-error", (e) => {
    if (e.data && status) status.textContent = "The state could not be read again: " + JSON.parse(e.data).error;
  });
  source.addEventListener("resync", () => window.location.reload());
})();
