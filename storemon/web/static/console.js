// Follows the recent reports on the fleet page: progress, status, duration, download link.
"use strict";
(function () {
  const table = document.getElementById("recent");
  if (!table) return;
  const unsettled = (status) => status === "Pending" || status === "Running";
  const rows = () => Array.from(table.querySelectorAll("tr[data-report-id]"));

  function show(row, report) {
    const done = report.status === "Complete";
    const pct = Math.round(100 * (done ? 1 : report.progress || 0));
    row.dataset.status = report.status;
    row.querySelector("progress").value = pct;
    row.querySelector(".pct").textContent = pct + " %";
    row.querySelector(".status").textContent = report.status + (report.error ? ": " + report.error : "");
    if (report.duration_s !== null && report.duration_s !== undefined) {
      row.querySelector(".duration").textContent = report.duration_s.toFixed(2) + " s";
    }
    const cell = row.querySelector(".download");
    if (done && !cell.querySelector("a")) {
      const link = document.createElement("a");
      link.href = "/get_report/" + encodeURIComponent(report.report_id);
      link.textContent = "download";
      link.setAttribute("download", "");
      cell.appendChild(link);
      const newer = document.getElementById("newer");
      if (newer && table.dataset.latest !== report.report_id) newer.hidden = false;
    }
  }

  async function refresh() {
    if (!rows().some((row) => unsettled(row.dataset.status))) return;
    try {
      const response = await fetch("/reports?limit=50", { headers: { Accept: "application/json" } });
      if (response.ok) {
        const byId = new Map((await response.json()).reports.map((r) => [r.report_id, r]));
        for (const row of rows()) {
          const report = byId.get(row.dataset.reportId);
          if (report) show(row, report);
        }
      }
    } catch (error) {
      // the service is restarting or the network blinked: try again at the next tick
    }
    setTimeout(refresh, 500);
  }
  refresh();
})();
