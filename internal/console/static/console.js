// dispatchd console: the live parts. Served from the console's own origin
// under a CSP that allows no inline script. Rows are built with
// textContent: nothing the server sends is parsed as HTML.
"use strict";

function liveRequests(table) {
  const url = table.dataset.live;
  const tbody = table.tBodies[0];
  const newest = () => {
    const row = tbody.querySelector("tr[data-id]");
    return row ? row.dataset.id : "";
  };
  const cell = (tr, text) => {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  };
  async function poll() {
    try {
      const after = newest();
      const resp = await fetch(url + (after ? "&after=" + encodeURIComponent(after) : ""), {credentials: "same-origin"});
      if (resp.ok) {
        const rows = await resp.json();
        for (const r of rows.reverse()) {
          const tr = document.createElement("tr");
          tr.dataset.id = r.ID;
          tr.className = r.Outcome + " new";
          const first = cell(tr, "");
          const a = document.createElement("a");
          a.href = "/console/requests/" + encodeURIComponent(r.ID);
          a.textContent = r.Time;
          first.appendChild(a);
          cell(tr, r.Source);
          cell(tr, r.Outcome);
          cell(tr, String(r.Status));
          cell(tr, r.Reason);
          cell(tr, String(r.Size));
          cell(tr, r.Remote);
          tbody.insertBefore(tr, tbody.firstChild);
        }
      }
    } catch (e) {
      // The next poll tries again.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
}

function refreshOverview(el) {
  const secs = Number(el.dataset.refresh) || 10;
  setTimeout(async function again() {
    try {
      const resp = await fetch(location.href, {credentials: "same-origin"});
      if (resp.ok) {
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = doc.getElementById("overview");
        if (fresh) el.replaceChildren(...fresh.childNodes);
      }
    } catch (e) {}
    setTimeout(again, secs * 1000);
  }, secs * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table[data-live]");
  if (table) liveRequests(table);
  const overview = document.getElementById("overview");
  if (overview) refreshOverview(overview);
});
