// Builds holdscope's HTML report from the JSON the page carries (#holdscope-data). A finished page carries
// <body data-rendered="1">; script errors are kept on <html data-script-errors> by the page's first script.
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function ms(ns) { return (ns / 1e6).toFixed(3) + " ms"; }
  function us(ns) { return (ns / 1e3).toFixed(1) + " us"; }
  function table(head, rows) {
    var t = el("table", {}, [el("tr", {}, head.map(function (h) { return el("th", {}, [h]); }))]);
    rows.forEach(function (r) {
      t.appendChild(el("tr", {}, r.map(function (c) { return c instanceof Node ? el("td", { class: "text" }, [c]) : el("td", {}, [String(c)]); })));
    });
    return t;
  }
  function section(title, children) { return el("section", {}, [el("h2", {}, [title])].concat(children)); }
  function empty(text) { return el("p", { class: "empty" }, [text]); }

  function summary(rep) {
    var rows = [];
    [["holds", "read"], ["holds", "write"], ["waits", "read"], ["waits", "write"]].forEach(function (k) {
      var s = rep[k[0]][k[1]];
      rows.push([k[1] + " " + k[0].slice(0, -1) + "s", s.count, ms(s.total_ns), us(s.p50_ns), us(s.p99_ns), us(s.max_ns)]);
    });
    return table(["", "count", "total", "p50", "p99", "max"], rows);
  }

  // Power-of-two microsecond buckets: bucket 0 is under 1 us, bucket i is [2^(i-1), 2^i) us.
  function bucketLabel(i) {
    if (i === 0) return "< 1 us";
    var lo = Math.pow(2, i - 1);
    return lo >= 1000 ? (lo / 1000) + " ms" : lo + " us";
  }
  function histogram(title, mode, buckets) {
    var last = -1, max = 0;
    buckets.forEach(function (n, i) { if (n > 0) last = i; max = Math.max(max, n); });
    var box = el("div", { class: "histogram " + mode }, [el("h3", {}, [title])]);
    if (last < 0) { box.appendChild(empty("none")); return box; }
    for (var i = 0; i <= last; i++) {
      // Logarithmic bar length: one long hold next to a million short ones must still show.
      var w = buckets[i] ? 4 + 400 * Math.log(1 + buckets[i]) / Math.log(1 + max) : 0;
      box.appendChild(el("div", { class: "row" }, [
        el("span", { class: "label" }, [bucketLabel(i)]),
        el("span", { class: "bar", style: "width:" + w.toFixed(1) + "px" }),
        el("span", { class: "n" }, [String(buckets[i])])]));
    }
    return box;
  }

  // Folded lines [[frames...], value] into d3-flame-graph's tree.
  function tree(lines, rootName) {
    var root = { name: rootName, value: 0, children: [] };
    lines.forEach(function (l) {
      var node = root;
      root.value += l[1];
      l[0].forEach(function (f) {
        var next = node.children.find(function (c) { return c.name === f; });
        if (!next) { next = { name: f, value: 0, children: [] }; node.children.push(next); }
        next.value += l[1];
        node = next;
      });
    });
    return root;
  }
  function flame(id, title, lines, unit) {
    var box = el("div", { class: "flame", id: id });
    var sec = section(title, [box]);
    if (!lines.length) { box.appendChild(empty("nothing recorded")); return sec; }
    sec.render = function () {
      var chart = flamegraph().cellHeight(18).transitionDuration(0).minFrameSize(1)
        .selfValue(false).sort(true)
        .label(function (d) { return d.data.name + " (" + unit(d.value) + ", " + (100 * (d.x1 - d.x0)).toFixed(1) + "%)"; });
      var width = box.clientWidth || 1100;
      d3.select(box).datum(tree(lines, "all")).call(chart.width(width));
      // The library grows new frames to their width in a 250 ms transition (whatever transitionDuration says): a
      // printout or a screenshot taken meanwhile would show them cut short, so the final width is set at once.
      d3.select(box).selectAll("g.frame rect").attr("width", function (d) { return (d.x1 - d.x0) * width; });
    };
    return sec;
  }

  function stackCell(frames) { return el("div", { class: "stack" }, [(frames || []).join("\n") || "(no stack)"]); }

  function verdicts(v) {
    if (!v || !v.length) return [];
    return [section("Verdict", [table(["scenario", "invariant", "verdict", "evidence"], v.map(function (s) {
      var cls = s.verdict === "holds" ? "pass" : s.verdict === "violated" ? "fail" : "";
      return [el("span", {}, [s.name]), el("span", {}, [s.invariant || ""]), el("span", { class: cls }, [s.verdict]),
              el("div", { class: "stack" }, [s.evidence || ""])];
    }))])];
  }

  function render(data) {
    var rep = data.report, body = document.body, renders = [];
    body.appendChild(el("h1", {}, [data.title]));
    body.appendChild(el("p", { class: "meta" }, ["kernel " + rep.kernel + ", " + (rep.duration_ns / 1e9).toFixed(2) +
      " s, " + rep.events + " events" + (rep.command && rep.command.length ? ", command: " + rep.command.join(" ") : "")]));
    verdicts(data.verdicts).forEach(function (s) { body.appendChild(s); });
    body.appendChild(section("Summary", [summary(rep)]));
    var h = data.histograms;
    body.appendChild(section("Hold and wait times", [el("div", { class: "histograms" }, [
      histogram("read holds", "read", h.hold_read), histogram("write holds", "write", h.hold_write),
      histogram("read waits", "read", h.wait_read), histogram("write waits", "write", h.wait_write)])]));
    [flame("flame-holds", "Hold time by the stack that took the lock", data.folded_holds, ms),
     flame("flame-allocs", "Allocations under the lock by stack (may-sleep apart)", data.folded_allocs, function (n) { return n + " allocations"; })]
      .forEach(function (s) { body.appendChild(s); if (s.render) renders.push(s.render); });
    body.appendChild(section("Longest holds", [rep.longest_holds.length ? table(["task", "mode", "held", "at", "stack"],
      rep.longest_holds.map(function (x) {
        return [el("span", {}, [x.task.comm + " " + x.task.tid]), x.mode, ms(x.duration_ns), ms(x.start_ns), stackCell(x.stack)];
      })) : empty("none")]));
    body.appendChild(section("Who blocked whom", [rep.waits_blocked_by.length ? table(["waiter", "holder", "holder's mode", "waits", "waited"],
      rep.waits_blocked_by.map(function (b) {
        return [el("span", {}, [b.waiter]), b.holder, b.holder_mode, b.count, ms(b.total_ns)];
      })) : empty("no wait saw a holder")]));
    renders.forEach(function (r) { r(); });
    body.setAttribute("data-rendered", "1");
  }

  function num(x) { return x === null || x === undefined ? "" : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(4); }
  function renderDiff(data) {
    var d = data.diff, body = document.body;
    body.appendChild(el("h1", {}, [data.title]));
    body.appendChild(table(["side", "kernel", "runs"], [["A", d.kernel_a, d.runs_a], ["B", d.kernel_b, d.runs_b]]));
    body.appendChild(el("p", { class: "meta" }, ["significance: " + d.method]));
    if (d.verdicts.length)
      body.appendChild(section("Verdicts", [table(["scenario", "A", "B", "changed"], d.verdicts.map(function (v) {
        return [el("span", {}, [v.scenario]), v.a.join(", "), v.b.join(", "), v.changed ? "changed" : ""];
      }))]));
    function rows(list) {
      return table(["figure", "mean A", "mean B", "change", "p"], list.map(function (r) {
        var change = r.change_pct === null ? "new" : (r.change_pct >= 0 ? "+" : "") + r.change_pct.toFixed(1) + "%";
        return [el("span", { class: r.significant ? "fail" : "" }, [r.figure]), num(r.mean_a), num(r.mean_b), change,
                num(r.p_separation)];
      }));
    }
    var significant = d.figures.filter(function (r) { return r.significant; });
    body.appendChild(section("Significant changes", [significant.length ? rows(significant) : empty("none")]));
    body.appendChild(section("Every figure", [rows(d.figures)]));
    body.setAttribute("data-rendered", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = JSON.parse(document.getElementById("holdscope-data").textContent);
    (data.diff ? renderDiff : render)(data);
  });
})();
