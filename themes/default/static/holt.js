// Holt's progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  // Live preview in the editor: re-render (server side, sanitized) a moment after typing stops.
  function livePreview() {
    var form = document.getElementById("holt-editor");
    var input = document.getElementById("holt-content-input");
    var output = document.getElementById("holt-preview");
    if (!form || !input || !output) return;
    var timer = null, inflight = null;
    function refresh() {
      if (inflight) inflight.abort();
      inflight = new AbortController();
      var body = new URLSearchParams({ content: input.value });
      fetch(form.dataset.preview, { method: "POST", body: body, signal: inflight.signal, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { output.innerHTML = html; renderExtras(output); })
        .catch(function () {});
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
    refresh();
    // Leaving with unsaved changes asks first.
    var saved = input.value, submitting = false;
    form.addEventListener("submit", function () { submitting = true; });
    window.addEventListener("beforeunload", function (e) {
      if (!submitting && input.value !== saved) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src; s.crossOrigin = "anonymous"; s.onload = resolve; s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  // Math ($...$) with KaTeX and diagrams with mermaid, loaded only when a page has them.
  function renderExtras(root) {
    var math = root.querySelectorAll("[data-math-style]");
    if (math.length) {
      var css = "https://cdn.jsdelivr.net/npm/katex@0.16.22/dist/katex.min.css";
      if (!document.querySelector('link[href="' + css + '"]')) {
        var link = document.createElement("link"); link.rel = "stylesheet"; link.href = css; document.head.appendChild(link);
      }
      (window.katex ? Promise.resolve() : loadScript("https://cdn.jsdelivr.net/npm/katex@0.16.22/dist/katex.min.js")).then(function () {
        math.forEach(function (el) {
          try {
            window.katex.render(el.textContent, el, { displayMode: el.dataset.mathStyle === "display", throwOnError: false });
          } catch (e) { /* leave the TeX source visible */ }
        });
      }).catch(function () {});
    }
    var diagrams = root.querySelectorAll("pre.mermaid");
    if (diagrams.length) {
      (window.mermaid ? Promise.resolve() : loadScript("https://cdn.jsdelivr.net/npm/mermaid@11.4.1/dist/mermaid.min.js")).then(function () {
        var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
        window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
        window.mermaid.run({ nodes: diagrams });
      }).catch(function () {});
    }
  }

  // Times are sent as absolute UTC (so pages can be cached); show them relative, in local time.
  function relativeTimes() {
    var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    var fmt = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      var secs = (Date.now() - when.getTime()) / 1000;
      el.title = when.toLocaleString();
      if (!fmt) return;
      if (secs < 60) { el.textContent = fmt.format(0, "second"); return; }
      for (var i = 0; i < units.length; i++) {
        if (secs >= units[i][1]) { el.textContent = fmt.format(-Math.floor(secs / units[i][1]), units[i][0]); return; }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    relativeTimes();
    livePreview();
    var content = document.getElementById("holt-content");
    if (content) renderExtras(content);
  });
})();
