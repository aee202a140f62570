// The dashboard: an architecture view and a study view over receptor serve's API. Charts by Chart.js; the
// study view follows the study's server-sent events, so it changes as trials end, without reloading.
"use strict";

const charts = {};

/** Draws (or redraws) a chart on a canvas. */
function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true }, config.options);
  charts[id] = new Chart(document.getElementById(id), config);
}

function number(n) { return n === null || n === undefined ? "–" : n.toLocaleString("en"); }
function percent(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(2) + " %"; }
function escape(text) { const d = document.createElement("div"); d.textContent = text; return d.innerHTML; }

async function post(path, body) {
  const answer = await fetch(path, { method: "POST", headers: { "Content-Type": "text/plain" }, body });
  if (!answer.ok) {
    const problem = await answer.json().catch(() => ({ error: answer.statusText }));
    throw new Error(problem.error);
  }
  return answer;
}

// ------------------------------------------------------------------------------------------- architecture

async function analyse() {
  const source = document.getElementById("source").value;
  const status = document.getElementById("architecture-status");
  status.className = "";
  status.textContent = "analysing…";
  try {
    const report = await (await post("/api/analyse", source)).json();
    document.getElementById("totals").textContent =
      `${report.name}: ${number(report.parameters)} parameters, ${number(report.multiplyAccumulates)} MACs, output ${report.outputShape.join("×")}`;
    const rows = report.layers.map(l => ({ layer: l, predicted: null, measured: null }));
    renderLayers(rows);
    const local = report.layers.filter(l => !l.receptiveField.isGlobal);
    chart("rf-chart", {
      type: "line",
      data: { labels: local.map(l => l.path), datasets: [{ label: "field (px)", data: local.map(l => l.receptiveField.height), borderColor: "#2563eb" }] },
      options: { scales: { x: { ticks: { display: false } } } },
    });
    status.textContent = "measuring the initialisation…";
    const [comparison, erf] = await Promise.all([
      post("/api/initialisation?seeds=4&batch=8", source).then(a => a.json()),
      post("/api/erf?samples=4", source).then(a => a.blob()).catch(() => null),
    ]);
    const byPath = new Map(comparison.nodes.map(n => [n.path, n]));
    for (const row of rows) {
      const n = byPath.get(row.layer.path);
      if (n) { row.predicted = n.predictedVariance; row.measured = n.measuredVariance; }
    }
    renderLayers(rows);
    chart("variance-chart", {
      type: "line",
      data: {
        labels: comparison.nodes.map(n => n.path),
        datasets: [
          { label: "predicted", data: comparison.nodes.map(n => n.predictedVariance), borderColor: "#2563eb" },
          { label: "measured", data: comparison.nodes.map(n => n.measuredVariance), borderColor: "#dc2626", borderDash: [4, 3] },
        ],
      },
      options: { scales: { x: { ticks: { display: false } }, y: { type: "logarithmic" } } },
    });
    if (erf) document.getElementById("erf").src = URL.createObjectURL(erf);
    status.textContent = `${comparison.nodesAgreeing} of ${comparison.nodes.length} nodes agree with the prediction`;
  } catch (e) {
    status.className = "error";
    status.textContent = e.message;
  }
}

function renderLayers(rows) {
  document.querySelector("#layers tbody").innerHTML = rows.map(r => {
    const f = r.layer.receptiveField;
    const field = f.isGlobal ? "global" : `${f.height}×${f.width}`;
    const v = x => x === null ? "–" : x.toPrecision(3);
    return `<tr><td>${escape(r.layer.path)}</td><td>${escape(r.layer.operation)}</td><td>${r.layer.outputShape.join("×")}</td>` +
      `<td>${number(r.layer.parameters)}</td><td>${number(r.layer.multiplyAccumulates)}</td><td>${field}</td><td>${v(r.predicted)}</td><td>${v(r.measured)}</td></tr>`;
  }).join("");
}

// ------------------------------------------------------------------------------------------------ studies

let events = null;
let trials = new Map();
let selected = null;

async function listStudies() {
  const studies = await (await fetch("/api/studies")).json();
  document.getElementById("studies").innerHTML = studies
    .map(s => `<li><a href="#/studies/${encodeURIComponent(s.name)}">${escape(s.name)}</a>${s.running ? " (running)" : ""}</li>`).join("");
}

function openStudy(name) {
  if (events) events.close();
  trials = new Map();
  selected = null;
  document.getElementById("study").hidden = false;
  document.getElementById("study-name").textContent = name;
  renderStudy();
  events = new EventSource(`/api/studies/${encodeURIComponent(name)}/events`);
  events.addEventListener("trial", e => {
    const change = JSON.parse(e.data);
    trials.set(change.trial.id, change.trial);
    renderStudy();
  });
}

/** Finished trials by best validation accuracy, ties to fewer MACs, as the store's leaderboard ranks them. */
function ranked() {
  return [...trials.values()]
    .filter(t => t.state === "finished")
    .sort((a, b) => (b.bestValidationAccuracy ?? -1) - (a.bestValidationAccuracy ?? -1) || a.multiplyAccumulates - b.multiplyAccumulates);
}

/** The finished trials no other beats on both accuracy and MACs, by increasing MACs. */
function paretoFront(finished) {
  const front = [];
  for (const t of [...finished].sort((a, b) => a.multiplyAccumulates - b.multiplyAccumulates || b.bestValidationAccuracy - a.bestValidationAccuracy)) {
    if (front.length === 0 || t.bestValidationAccuracy > front[front.length - 1].bestValidationAccuracy) front.push(t);
  }
  return front;
}

function renderStudy() {
  const all = [...trials.values()];
  const count = state => all.filter(t => t.state === state).length;
  document.getElementById("status").textContent =
    `${count("finished")} finished, ${count("running")} running, ${count("waiting")} waiting, ${count("rejected")} rejected, ` +
    `${count("diverged") + count("failed") + count("timed-out")} ended otherwise`;
  const board = ranked();
  document.querySelector("#leaderboard tbody").innerHTML = board.map((t, i) =>
    `<tr data-id="${t.id}" class="${t.id === selected ? "selected" : ""}"><td>${i + 1}</td><td>${t.number}</td><td>${percent(t.bestValidationAccuracy)}</td>` +
    `<td>${number(t.multiplyAccumulates)}</td><td>${number(t.parameters)}</td><td>${t.epochs.length}</td></tr>`).join("");
  for (const row of document.querySelectorAll("#leaderboard tbody tr"))
    row.addEventListener("click", () => { selected = Number(row.dataset.id); renderStudy(); });
  const front = paretoFront(board);
  chart("pareto-chart", {
    type: "scatter",
    data: {
      datasets: [
        { label: "trials", data: board.map(t => ({ x: t.multiplyAccumulates, y: 100 * t.bestValidationAccuracy })), backgroundColor: "#94a3b8" },
        { label: "Pareto front", type: "line", data: front.map(t => ({ x: t.multiplyAccumulates, y: 100 * t.bestValidationAccuracy })), borderColor: "#16a34a", stepped: "after" },
      ],
    },
    options: { scales: { x: { type: "logarithmic", title: { display: true, text: "MACs" } }, y: { title: { display: true, text: "validation accuracy (%)" } } } },
  });
  const trial = trials.get(selected) ?? board[0];
  if (trial) {
    document.getElementById("trial-caption").textContent = `Trial ${trial.number}: validation accuracy by epoch`;
    chart("trial-curve", {
      type: "line",
      data: { labels: trial.epochs.map(e => e.epoch), datasets: [{ label: "validation accuracy (%)", data: trial.epochs.map(e => 100 * e.validationAccuracy), borderColor: "#2563eb" }] },
    });
    document.getElementById("trial-architecture").textContent = trial.architecture;
  }
}

// ------------------------------------------------------------------------------------------------- routes

function route() {
  const [, view, name] = location.hash.split("/");
  const studies = view === "studies";
  document.getElementById("architecture-view").hidden = studies;
  document.getElementById("studies-view").hidden = !studies;
  document.getElementById("nav-architecture").classList.toggle("active", !studies);
  document.getElementById("nav-studies").classList.toggle("active", studies);
  if (studies) {
    listStudies();
    if (name) openStudy(decodeURIComponent(name));
  }
}

document.getElementById("analyse").addEventListener("click", analyse);
window.addEventListener("hashchange", route);
route();
