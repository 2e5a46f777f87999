// Keeps the fleet page's recent reports current by itself: reports triggered anywhere appear,
// progress, status, duration and download links follow, and when a newer routine report
// completes the page shows it (unless a person picked a report, or is typing).
"use strict";
(function () {
  const table = document.getElementById("recent");
  if (!table) return;
  const body = table.tBodies[0];
  const ROWS = 10;
  const BUSY_MS = 500; // while a report is Pending or Running
  const IDLE_MS = 5000; // otherwise: a report may be triggered elsewhere (the clock, the API)
  const unsettled = (status) => status === "Pending" || status === "Running";

  function element(tag, attributes, text) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) made.setAttribute(name, value);
    if (text !== undefined) made.textContent = text;
    return made;
  }

  function rowFor(report) {
    const row = element("tr", { id: "report-" + report.report_id, "data-report-id": report.report_id });
    const id = element("td", { class: "id" });
    id.appendChild(element("code", { title: report.report_id }, report.report_id.slice(0, 8)));
    row.appendChild(id);
    row.appendChild(element("td", { class: "status" }));
    row.appendChild(element("td", { class: "progress" }));
    row.appendChild(element("td", {}, report.requested_as_of === null ? "latest poll" : report.requested_as_of));
    row.appendChild(element("td", { class: "duration" }));
    row.appendChild(element("td", { class: "download" }));
    return row;
  }

  function showProgress(row, report) {
    const cell = row.querySelector(".progress");
    if (report.status === "Failed") {
      if (!cell.querySelector(".failed-mark")) cell.replaceChildren(element("span", { class: "failed-mark" }, "✕ failed"));
      return;
    }
    const pct = Math.round(100 * (report.status === "Complete" ? 1 : report.progress || 0));
    let bar = cell.querySelector("progress");
    if (!bar) {
      bar = element("progress", { max: "100", "aria-label": "progress of report " + report.report_id.slice(0, 8) });
      cell.replaceChildren(bar, document.createTextNode(" "), element("span", { class: "pct" }));
    }
    bar.value = pct;
    cell.querySelector(".pct").textContent = pct + " %";
  }

  function show(row, report) {
    row.dataset.status = report.status;
    row.classList.toggle("failed", report.status === "Failed");
    row.querySelector(".status").textContent = report.status + (report.error ? ": " + report.error : "");
    showProgress(row, report);
    if (report.duration_s !== null && report.duration_s !== undefined) {
      row.querySelector(".duration").textContent = report.duration_s.toFixed(2) + " s";
    }
    if (report.status !== "Complete") return;
    const cell = row.querySelector(".download");
    if (!cell.querySelector("a")) {
      const link = element("a", { href: "/get_report/" + encodeURIComponent(report.report_id), download: "" }, "download");
      cell.appendChild(link);
    }
    const id = row.querySelector(".id");
    if (!id.querySelector(".show, .showing")) {
      id.appendChild(document.createTextNode(" "));
      id.appendChild(element("a", { class: "show", href: "/?report=" + encodeURIComponent(report.report_id) }, "show"));
    }
  }

  function typing() {
    const active = document.activeElement;
    return active !== null && (active.tagName === "INPUT" || active.tagName === "TEXTAREA") && active.value !== "";
  }

  function newerRoutine(reports) {
    // routine, as the server says (storemon/reports/lifecycle.py latest_routine): extended, of every
    // store, asked for without an as_of
    const newest = reports.find((r) => r.status === "Complete" && r.requested_as_of === null
      && r.columns === "extended" && r.group === null);
    return newest !== undefined && newest.report_id !== table.dataset.shown && table.dataset.pinned !== "true";
  }

  async function refresh() {
    let delay = IDLE_MS;
    try {
      const response = await fetch("/reports?limit=" + ROWS, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const reports = (await response.json()).reports;
        for (const report of reports.slice().reverse()) {
          let row = document.getElementById("report-" + report.report_id);
          if (row === null) {
            row = rowFor(report);
            body.insertBefore(row, body.firstChild);
          }
          show(row, report);
        }
        while (body.rows.length > ROWS) body.deleteRow(body.rows.length - 1);
        if (reports.length) {
          table.hidden = false;
          const none = document.getElementById("none-yet");
          if (none) none.hidden = true;
        }
        if (newerRoutine(reports)) {
          if (!typing()) {
            window.location.reload();
            return;
          }
          const newer = document.getElementById("newer");
          if (newer) newer.hidden = false;
        }
        if (reports.some((r) => unsettled(r.status))) delay = BUSY_MS;
      }
    } catch (error) {
      // the service is restarting or the network blinked: try again at the next tick
    }
    setTimeout(refresh, delay);
  }
  refresh();
})();
