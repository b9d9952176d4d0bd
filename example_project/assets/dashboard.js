// The live cache dashboard of the cachepolicy example (served by the Django site and the Flask
// app alike). Polls the state endpoint once a second and redraws: the memory gauge, the
// counters, two SVG line charts, keys per database. Hand-written, no dependencies, no build.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var urls = {
    state: root.dataset.stateUrl,
    load: root.dataset.loadUrl,
    config: root.dataset.configUrl
  };
  var csrfToken = root.dataset.csrfToken || "";
  var lastState = null;  // the last state rendered
  var startedRun = null;  // the run this page started and still announces, or null
  // One second: fast enough to watch eviction start, slow enough to cost the server nothing.
  var POLL_MS = 1000;
  var CHART_WIDTH = 600;

  function $(id) { return document.getElementById(id); }

  function text(id, value) { $(id).textContent = value; }

  function bytes(n) {
    var units = ["B", "K", "M", "G"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(2) : String(n)) + units[i];
  }

  function number(n) { return Number(n).toLocaleString("en-US"); }

  function message(textValue, isError) {
    var node = $("message");
    node.textContent = textValue;
    node.className = isError ? "error" : "muted";
  }

  // An SVG path through (t, value) points scaled into the chart's box. ``steps``: the value
  // holds until the next sample (a setting such as maxmemory), instead of a straight slope.
  function path(samples, key, t0, t1, top, height, bottom, steps) {
    if (!samples.length) { return ""; }
    var span = Math.max(t1 - t0, 1);
    var lastY = null;
    return samples.map(function (s, i) {
      var x = (((s.t - t0) / span) * CHART_WIDTH).toFixed(1);
      var y = (bottom - (Math.min(s[key], top) / top) * height).toFixed(1);
      var point = (i ? "L" : "M") + x + " " + y;
      if (steps && i && lastY !== y) { point = "L" + x + " " + lastY + " " + point; }
      lastY = y;
      return point;
    }).join(" ");
  }

  // The time axis under a chart: its left end (how long ago the first sample was) and "now".
  function timeAxis(prefix, t0, t1) {
    text(prefix + "-time-start", "-" + Math.round(t1 - t0) + " s");
    text(prefix + "-time-end", "now");
  }

  function drawMemory(history) {
    var chart = $("memory-chart");
    chart.setAttribute("data-samples", String(history.length));
    if (!history.length) { return; }
    var t0 = history[0].t;
    var t1 = history[history.length - 1].t;
    var top = 1;
    history.forEach(function (s) { top = Math.max(top, s.maxmemory, s.used_memory); });
    top *= 1.1;  // headroom above maxmemory, so the limit line is visible
    var used = path(history, "used_memory", t0, t1, top, 150, 165);
    $("used-line").setAttribute("d", used);
    $("used-area").setAttribute("d", used ? used + " L" + CHART_WIDTH + " 165 L0 165 Z" : "");
    $("max-line").setAttribute("d", path(history, "maxmemory", t0, t1, top, 150, 165, true));
    // The scale of the y axis, worded so it cannot be read as a second maxmemory.
    text("memory-axis", "chart top " + bytes(Math.round(top)));
    timeAxis("memory", t0, t1);
  }

  function drawRates(history) {
    var chart = $("rate-chart");
    chart.setAttribute("data-samples", String(history.length));
    if (!history.length) { return; }
    var t0 = history[0].t;
    var t1 = history[history.length - 1].t;
    var top = 10;
    history.forEach(function (s) { top = Math.max(top, s.evicted_per_sec, s.expired_per_sec); });
    top *= 1.1;
    $("evicted-line").setAttribute("d", path(history, "evicted_per_sec", t0, t1, top, 110, 125));
    $("expired-line").setAttribute("d", path(history, "expired_per_sec", t0, t1, top, 110, 125));
    text("rate-axis", "chart top " + number(Math.round(top)) + " keys/s");
    timeAxis("rate", t0, t1);
  }

  // The live LRU curve: the points are doublings of maxmemory, so equal steps on the x axis
  // are a log scale.
  function drawCurve(curve) {
    var chart = $("curve-chart");
    if (!curve) {
      chart.setAttribute("data-points", "0");
      text("curve-text", "This store does not record its traffic (set RECORD / CACHE_RECORD): " +
        "no estimate of the hit ratio at other sizes.");
      return;
    }
    var points = curve.points || [];
    chart.setAttribute("data-points", String(points.length));
    if (!points.length) {
      text("curve-text", "Recording: no sampled read yet (generate some load).");
      return;
    }
    var step = CHART_WIDTH / Math.max(points.length - 1, 1);
    var d = points.map(function (p, i) {
      return (i ? "L" : "M") + (i * step).toFixed(1) + " " + (165 - 150 * p.hit_ratio).toFixed(1);
    }).join(" ");
    $("curve-line").setAttribute("d", d);
    points.forEach(function (p, i) {
      if (p.factor === 1) {
        $("curve-now").setAttribute("cx", (i * step).toFixed(1));
        $("curve-now").setAttribute("cy", (165 - 150 * p.hit_ratio).toFixed(1));
      }
    });
    text("curve-axis", points.map(function (p) {
      return bytes(p.maxmemory) + " " + (100 * p.hit_ratio).toFixed(0) + "%";
    }).join(" · "));
    var gain = curve.gain_2x_points;
    text("curve-text", (gain === null ? "" : "At 2x maxmemory: " + (gain >= 0 ? "+" : "") +
      gain.toFixed(1) + " points of hit ratio. ") + "Estimated from " +
      number(curve.references) + " sampled reads.");
  }

  function drawKeyspace(rows) {
    var body = $("keyspace").tBodies[0];
    body.innerHTML = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      [["db" + row.db, false], [row.label || "-", false], [number(row.keys), true],
       [number(row.expires), true]].forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell[0];
        if (cell[1]) { td.className = "num"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function drawLoad(load) {
    var status = $("load-status");
    var button = $("load-button");
    button.disabled = !!load.running;
    if (!load.run) { status.textContent = "no load yet"; return; }
    if (startedRun !== null && !load.running && load.run >= startedRun) {
      // The "Load started" message would otherwise stay after the run ended.
      message("Load run " + load.run + " finished" + (load.error ? ": " + load.error : "."),
        !!load.error);
      startedRun = null;
    }
    var ops = load.ops || {};
    // In the order the phases run (Flask's JSON sorts the keys).
    var parts = ["zipf", "scan", "burst"].filter(function (phase) { return phase in ops; })
      .map(function (phase) { return phase + " " + number(ops[phase]); });
    status.textContent = "run " + load.run + ": " + load.phase +
      (parts.length ? " (" + parts.join(", ") + " ops" +
        (load.refused ? ", " + number(load.refused) + " refused" : "") + ")" : "") +
      (load.error ? " · " + load.error : "");
  }

  // The selectors show what the store runs: after a refused CONFIG SET they go back to it.
  function showConfig(state) {
    $("policy-select").value = state.maxmemory_policy;
    $("maxmemory-select").value = "";
  }

  function render(state) {
    lastState = state;
    var percent = state.maxmemory ? Math.min(100, 100 * state.used_memory / state.maxmemory) : 0;
    $("memory-fill").style.width = percent.toFixed(1) + "%";
    $("memory-gauge").className = "gauge" + (percent > 80 ? " high" : "");
    text("memory-text", state.used_memory_human + " of " + state.maxmemory_human +
      " (" + percent.toFixed(1) + "%), peak " + bytes(state.used_memory_peak));
    text("stat-policy", state.maxmemory_policy);
    text("stat-expiry", state.expiry + (state.eviction_mode ? " · " + state.eviction_mode : ""));
    text("stat-build", state.build || "n/a");
    text("stat-hit-ratio", state.hit_ratio === null ? "n/a" : (100 * state.hit_ratio).toFixed(1) + "%");
    text("stat-hits", number(state.keyspace_hits));
    text("stat-misses", number(state.keyspace_misses));
    text("stat-evicted", number(state.evicted_keys));
    text("stat-evicted-rate", number(state.evicted_per_sec));
    text("stat-expired", number(state.expired_keys));
    text("stat-expired-rate", number(state.expired_per_sec));
    Object.keys(state.stampede || {}).forEach(function (name) {
      text("stat-" + name, number(state.stampede[name]));
    });
    drawMemory(state.history);
    drawRates(state.history);
    drawKeyspace(state.keyspace);
    drawCurve(state.curve);
    drawLoad(state.load);
    root.setAttribute("data-updated", String(Date.now()));
  }

  function post(url, body) {
    var headers = {"X-Requested-With": "fetch"};
    if (csrfToken) { headers["X-CSRFToken"] = csrfToken; }
    if (body) { headers["Content-Type"] = "application/x-www-form-urlencoded"; }
    return fetch(url, {method: "POST", headers: headers, body: body || "", credentials: "same-origin"})
      .then(function (response) {
        return response.json().then(function (data) { return {status: response.status, data: data}; });
      });
  }

  function poll() {
    fetch(urls.state, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(render)
      .catch(function (error) { message("Cannot read " + urls.state + ": " + error, true); })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  $("load-button").addEventListener("click", function () {
    $("load-button").disabled = true;
    post(urls.load).then(function (reply) {
      var seconds = reply.data.seconds ? " for about " + Math.round(reply.data.seconds) + " s" : "";
      message(reply.data.started ? "Load started" + seconds + "." : "A load run is already going.",
        false);
      if (reply.data.started) { startedRun = reply.data.load.run; }
    }).catch(function (error) { message("Load failed to start: " + error, true); });
  });

  $("config-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = new URLSearchParams(new FormData(event.target)).toString();
    post(urls.config, form).then(function (reply) {
      if (reply.status === 200) {
        var applied = Object.keys(reply.data.applied).map(function (name) {
          return name + " " + reply.data.applied[name];
        });
        message("CONFIG SET " + applied.join(", ") + ": done.", false);
        render(reply.data.state);
      } else {
        message(reply.data.error, true);
        if (lastState) { showConfig(lastState); }
      }
    }).catch(function (error) { message("CONFIG SET failed: " + error, true); });
  });

  poll();
})();
