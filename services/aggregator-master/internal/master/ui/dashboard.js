// The master's dashboard script, served by the master (no external asset).
// It polls the master: the page itself, whose [data-live] parts it swaps in
// place (the tables are rendered by the server and work without this
// script), and the JSON history from which it draws every chart in SVG.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var body = document.body;
  document.documentElement.classList.add("js");
  var page = body.getAttribute("data-page");
  var poll = Number(body.getAttribute("data-poll-ms")) || 2000;
  var main = document.querySelector("main");
  var jobID = main && main.getAttribute("data-job");
  var batchCount = main && main.getAttribute("data-batches");
  // The API token typed in the cancel dialog: kept in this page's memory
  // only, sent only to this master, only to cancel.
  var token = "";
  var data = { histories: null, history: null, detail: null };
  var timer = null;

  function $(id) { return document.getElementById(id); }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtNum(v) {
    if (v === null || v === undefined || isNaN(v)) return "-";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  function fmtMs(v) {
    if (v === null || v === undefined || isNaN(v)) return "-";
    var a = Math.abs(v);
    if (a >= 3600000) return (v / 3600000).toFixed(1) + " h";
    if (a >= 60000) return (v / 60000).toFixed(1) + " min";
    if (a >= 1000) return (v / 1000).toFixed(1) + " s";
    return (a < 10 && !Number.isInteger(v) ? v.toFixed(1) : Math.round(v)) + " ms";
  }
  function fmt(unit) { return unit === "ms" ? fmtMs : fmtNum; }
  function fmtClock(ms) { return new Date(ms).toISOString().slice(11, 19); }

  // ticks returns about n round values from lo to hi.
  function ticks(lo, hi, n) {
    var span = hi - lo;
    if (span <= 0) return [lo];
    var raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), step = p;
    [1, 2, 5, 10].some(function (m) { step = m * p; return m * p >= raw; });
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  // extent returns [lo, hi] of the values, from 0, never empty.
  function extent(vals) {
    var lo = 0, hi = 0;
    vals.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (hi === lo) hi = lo + 1;
    return [lo, hi + (hi - lo) * 0.08];
  }

  // segments splits points [t, v] at missing values into polylines.
  function segments(pts, sx, sy) {
    var out = [], cur = [];
    pts.forEach(function (p) {
      if (p[1] === null) { if (cur.length) out.push(cur); cur = []; return; }
      cur.push([sx(p[0]), sy(p[1])]);
    });
    if (cur.length) out.push(cur);
    return out;
  }
  function drawLine(svg, segs, baseY) {
    segs.forEach(function (seg) {
      var line = seg.map(function (q) { return q[0].toFixed(1) + "," + q[1].toFixed(1); }).join(" ");
      var area = seg[0][0].toFixed(1) + "," + baseY.toFixed(1) + " " + line + " " + seg[seg.length - 1][0].toFixed(1) + "," + baseY.toFixed(1);
      svg.appendChild(svgEl("polygon", { "class": "area", points: area }));
      svg.appendChild(svgEl("polyline", { "class": "line", points: line }));
    });
  }

  // lineChart draws points [t ms, value or null] in a figure.
  function lineChart(fig, id, pts, title, unit) {
    var W = 420, H = 170, L = 54, R = 12, T = 8, B = 22, f = fmt(unit);
    clear(fig);
    var known = pts.filter(function (p) { return p[1] !== null; });
    var last = known.length ? known[known.length - 1] : null;
    fig.appendChild(el("figcaption", {}, title + (last ? " · " + f(last[1]) : "")));
    var svg = svgEl("svg", { id: id, "class": "chart-svg", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      role: "img", "aria-label": title, "data-points": known.length, "data-last-t": last ? last[0] : "", "data-last-v": last ? last[1] : "" });
    fig.appendChild(svg);
    if (known.length === 0) {
      svg.appendChild(svgEl("text", { "class": "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
      return;
    }
    var t0 = pts[0][0], t1 = pts[pts.length - 1][0];
    if (t1 === t0) t1 = t0 + 1000;
    var ex = extent(pts.map(function (p) { return p[1]; }));
    var sx = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var sy = function (v) { return H - B - (H - B - T) * (v - ex[0]) / (ex[1] - ex[0]); };
    ticks(ex[0], ex[1], 4).forEach(function (v) {
      svg.appendChild(svgEl("line", { "class": "grid", x1: L, x2: W - R, y1: sy(v), y2: sy(v) }));
      svg.appendChild(svgEl("text", { "class": "lbl", x: L - 5, y: sy(v) + 3, "text-anchor": "end" }, f(v)));
    });
    svg.appendChild(svgEl("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.appendChild(svgEl("line", { "class": "axis", x1: L, x2: L, y1: T, y2: H - B }));
    [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]].forEach(function (x) {
      svg.appendChild(svgEl("text", { "class": "lbl", x: sx(x[0]), y: H - 6, "text-anchor": x[1] }, fmtClock(x[0])));
    });
    drawLine(svg, segments(pts, sx, sy), sy(Math.max(ex[0], 0)));
  }

  function sparkline(svg, pts) {
    var W = 120, H = 24;
    clear(svg);
    var known = pts.filter(function (p) { return p[1] !== null; });
    var last = known.length ? known[known.length - 1] : null;
    svg.setAttribute("data-points", known.length);
    svg.setAttribute("data-last-t", last ? last[0] : "");
    if (!known.length) return;
    var t0 = pts[0][0], t1 = pts[pts.length - 1][0];
    if (t1 === t0) t1 = t0 + 1000;
    var ex = extent(pts.map(function (p) { return p[1]; }));
    var sx = function (t) { return 1 + (W - 2) * (t - t0) / (t1 - t0); };
    var sy = function (v) { return H - 2 - (H - 4) * (v - ex[0]) / (ex[1] - ex[0]); };
    drawLine(svg, segments(pts, sx, sy), H - 1);
    svg.appendChild(svgEl("title", {}, "last " + fmtNum(last[1]) + " at " + fmtClock(last[0]) + " UTC"));
  }

  // timeline draws one value per batch, at its batch time; late batches in red.
  function timeline(batches, field, unit, id) {
    var W = 520, H = 150, L = 54, R = 12, T = 8, B = 22, f = fmt(unit);
    var svg = svgEl("svg", { id: id, "class": "chart-svg timeline", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      "data-points": batches.length });
    if (!batches.length) {
      svg.appendChild(svgEl("text", { "class": "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no batch yet"));
      return svg;
    }
    var ts = batches.map(function (b) { return Date.parse(b.batch_time); });
    var t0 = ts[0], t1 = ts[ts.length - 1];
    if (t1 === t0) t1 = t0 + 1000;
    var ex = extent(batches.map(function (b) { return b[field]; }));
    var sx = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var sy = function (v) { return H - B - (H - B - T) * (v - ex[0]) / (ex[1] - ex[0]); };
    ticks(ex[0], ex[1], 4).forEach(function (v) {
      svg.appendChild(svgEl("line", { "class": "grid", x1: L, x2: W - R, y1: sy(v), y2: sy(v) }));
      svg.appendChild(svgEl("text", { "class": "lbl", x: L - 5, y: sy(v) + 3, "text-anchor": "end" }, f(v)));
    });
    svg.appendChild(svgEl("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.appendChild(svgEl("text", { "class": "lbl", x: L, y: H - 6 }, fmtClock(t0)));
    svg.appendChild(svgEl("text", { "class": "lbl", x: W - R, y: H - 6, "text-anchor": "end" }, fmtClock(t1)));
    svg.appendChild(svgEl("polyline", { "class": "line", points: batches.map(function (b, i) {
      return sx(ts[i]).toFixed(1) + "," + sy(b[field]).toFixed(1); }).join(" ") }));
    batches.forEach(function (b, i) {
      var c = svgEl("circle", { "class": "dot" + (b.late ? " late" : ""), cx: sx(ts[i]).toFixed(1), cy: sy(b[field]).toFixed(1), r: 2.5,
        "data-batch": b.batch_id });
      c.appendChild(svgEl("title", {}, "batch " + b.batch_id + " at " + fmtClock(ts[i]) + ": " + f(b[field]) + (b.late ? " (late)" : "")));
      svg.appendChild(c);
    });
    return svg;
  }

  // histogram counts the values in up to 10 bins of equal width.
  function histogram(values, unit, id) {
    var W = 300, H = 150, L = 34, R = 10, T = 8, B = 22, f = fmt(unit);
    var svg = svgEl("svg", { id: id, "class": "chart-svg histogram", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      "data-values": values.length });
    if (!values.length) return svg;
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var n = Math.min(10, Math.max(1, values.length)), width = (hi - lo) / n || 1;
    var counts = [];
    for (var i = 0; i < n; i++) counts.push(0);
    values.forEach(function (v) { counts[Math.min(n - 1, Math.floor((v - lo) / width))]++; });
    var maxC = Math.max.apply(null, counts), bw = (W - L - R) / n;
    var sy = function (c) { return H - B - (H - B - T) * c / maxC; };
    ticks(0, maxC, 3).filter(Number.isInteger).forEach(function (c) {
      svg.appendChild(svgEl("line", { "class": "grid", x1: L, x2: W - R, y1: sy(c), y2: sy(c) }));
      svg.appendChild(svgEl("text", { "class": "lbl", x: L - 4, y: sy(c) + 3, "text-anchor": "end" }, String(c)));
    });
    counts.forEach(function (c, i) {
      var from = lo + i * width, r = svgEl("rect", { "class": "bar", x: (L + i * bw + 1).toFixed(1), y: sy(c).toFixed(1),
        width: Math.max(bw - 2, 1).toFixed(1), height: (H - B - sy(c)).toFixed(1), "data-count": c });
      r.appendChild(svgEl("title", {}, "[" + f(from) + ", " + f(from + width) + "): " + c + " batches"));
      svg.appendChild(r);
    });
    svg.appendChild(svgEl("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.appendChild(svgEl("text", { "class": "lbl", x: L, y: H - 6 }, f(lo)));
    svg.appendChild(svgEl("text", { "class": "lbl", x: W - R, y: H - 6, "text-anchor": "end" }, f(hi)));
    return svg;
  }

  function drawSparks() {
    var jobs = (data.histories && data.histories.jobs) || {};
    document.querySelectorAll("svg.spark").forEach(function (svg) {
      var field = svg.getAttribute("data-field");
      var samples = jobs[svg.getAttribute("data-job")] || [];
      sparkline(svg, samples.map(function (s) { return [s.t, s[field] === undefined ? null : s[field]]; }));
    });
  }

  function drawCharts() {
    if (!data.history) return;
    var life = data.history.life || [];
    document.querySelectorAll("figure.chart").forEach(function (fig) {
      var field = fig.getAttribute("data-series");
      lineChart(fig, "chart-" + field, life.map(function (s) { return [s.t, s[field] === undefined ? null : s[field]]; }),
        fig.getAttribute("data-title"), fig.getAttribute("data-unit"));
    });
  }

  function drawBatches() {
    if (!data.detail) return;
    // Completed batches, oldest first.
    var bs = (data.detail.batches || []).filter(function (b) { return b.completed_at; }).reverse();
    document.querySelectorAll(".batch-row").forEach(function (row) {
      var field = row.getAttribute("data-batch-field"), unit = row.getAttribute("data-unit"), f = fmt(unit);
      var vals = bs.map(function (b) { return b[field]; });
      clear(row);
      var stat = el("div", { "class": "stat" });
      stat.appendChild(el("h3", {}, row.getAttribute("data-title")));
      if (vals.length) {
        var sum = vals.reduce(function (a, b) { return a + b; }, 0);
        stat.appendChild(el("b", {}, "avg " + f(sum / vals.length)));
        stat.appendChild(el("span", { "class": "muted" }, "max " + f(Math.max.apply(null, vals)) + " over " + vals.length + " batches"));
      } else {
        stat.appendChild(el("span", { "class": "muted" }, "no completed batch yet"));
      }
      row.appendChild(stat);
      row.appendChild(timeline(bs, field, unit, "batch-timeline-" + field));
      row.appendChild(histogram(vals, unit, "batch-hist-" + field));
    });
  }

  function draw() {
    if (page === "overview") drawSparks();
    if (page === "job") { drawCharts(); drawBatches(); }
  }

  function getJSON(url) {
    return fetch(url, { cache: "no-store", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  // refreshLive fetches this page again and swaps its [data-live] parts.
  function refreshLive() {
    return fetch(location.pathname + location.search, { cache: "no-store", headers: { Accept: "text/html" } }).then(function (r) {
      if (!r.ok) throw new Error("page: " + r.status);
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live]").forEach(function (old) {
        var fresh = doc.getElementById(old.id);
        if (fresh) old.replaceWith(document.importNode(fresh, true));
      });
    });
  }

  function fetches() {
    var all = [refreshLive()];
    if (page === "overview") {
      all.push(getJSON("/api/history").then(function (h) { data.histories = h; }));
    }
    if (page === "job" && jobID) {
      var base = "/api/jobs/" + encodeURIComponent(jobID);
      all.push(getJSON(base + "/history").then(function (h) { data.history = h; }));
      if (batchCount) all.push(getJSON(base + "?batches=" + batchCount).then(function (d) { data.detail = d; }));
    }
    return all;
  }

  function setLive(text) { var s = $("live"); if (s) s.textContent = text; }

  function tick() {
    clearTimeout(timer);
    if (document.hidden) { timer = setTimeout(tick, poll); return; }
    Promise.all(fetches()).then(function () {
      setLive("live · updated " + fmtClock(Date.now()) + " UTC");
    }, function (err) {
      setLive("update failed (" + err.message + "); trying again");
    }).then(function () {
      draw();
      timer = setTimeout(tick, poll);
    });
  }

  // Cancel: a confirmation dialog, then the API's cancel, as the CLI sends
  // it (JSON, with the token when the master requires one).
  var dialog = $("cancel-dialog");
  function showCancelError(msg) {
    var e = $("cancel-error");
    e.textContent = msg;
    e.hidden = false;
  }
  if (dialog) {
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest && ev.target.closest("button[data-cancel]");
      if (!b) return;
      dialog.setAttribute("data-job", b.getAttribute("data-cancel"));
      $("cancel-job").textContent = b.getAttribute("data-cancel");
      $("cancel-error").hidden = true;
      var input = $("cancel-token");
      if (input) input.value = token;
      dialog.showModal();
    });
    $("cancel-keep").addEventListener("click", function () { dialog.close(); });
    $("cancel-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var id = dialog.getAttribute("data-job"), input = $("cancel-token");
      var tok = input ? input.value.trim() : token;
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (tok) headers.Authorization = "Bearer " + tok;
      fetch("/api/jobs/" + encodeURIComponent(id) + "/cancel", { method: "POST", headers: headers, body: "", cache: "no-store" })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            if (!r.ok) throw new Error(r.status + " " + (b.error || r.statusText));
            token = tok;
            dialog.close();
            tick();
          });
        })
        .catch(function (err) { showCancelError("Not cancelled: " + err.message); });
    });
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
  tick();
})();
