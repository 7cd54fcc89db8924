// Static players of ntk_course.chapters.widgets.interactive_figure: each control picks a value on
// its grid, and the frame drawn at build time for that combination replaces the image. Offline.
//
// On the website the frames are image files (book/_ext/ntk_site.py writes them and lists their
// addresses in data.urls): the page loads only the first frame of each player; once a reader
// reaches a player (pointer, touch or keyboard focus) the frames one step away on every control
// are fetched with <img> (which works from file:// as from a server), and again after each move.
// In a notebook's own HTML the frames are still base64 (data.frames).
(function () {
  "use strict";
  function setup(root) {
    var data = JSON.parse(root.querySelector("script.ntk-widget-data").textContent);
    var image = root.querySelector("img.ntk-widget-frame");
    var fields = Array.prototype.slice.call(root.querySelectorAll("[data-axis]"));
    var baseAlt = image.getAttribute("data-alt") || "";
    var warm = {};
    var touched = false;
    function source(index) {
      return data.urls ? data.urls[index] : "data:image/png;base64," + data.frames[index];
    }
    function positions() {
      var at = [];
      fields.forEach(function (field) { at[Number(field.getAttribute("data-axis"))] = Number(field.value); });
      return at;
    }
    function indexOf(at) {
      var index = 0;
      for (var axis = 0; axis < data.sizes.length; axis++) { index = index * data.sizes[axis] + at[axis]; }
      return index;
    }
    function preload() {  // the neighbours of the current value on every control
      if (!data.urls) { return; }
      var at = positions();
      for (var axis = 0; axis < data.sizes.length; axis++) {
        [-1, 1].forEach(function (step) {
          var next = at.slice();
          next[axis] += step;
          if (next[axis] < 0 || next[axis] >= data.sizes[axis]) { return; }
          var url = source(indexOf(next));
          if (!warm[url]) { warm[url] = new Image(); warm[url].src = url; }
        });
      }
    }
    function touch() { if (!touched) { touched = true; preload(); } }
    function update() {
      var at = positions();
      var spoken = [];
      fields.forEach(function (field) {
        var axis = Number(field.getAttribute("data-axis"));
        var labels = field.getAttribute("data-labels");
        if (labels) { field.nextElementSibling.textContent = JSON.parse(labels)[at[axis]]; }
        var said = data.spoken ? data.spoken[axis][at[axis]] : "";
        if (said && field.tagName === "INPUT") { field.setAttribute("aria-valuetext", said); }
        if (said) { spoken.push(said); }
      });
      image.src = source(indexOf(at));
      if (baseAlt) { image.alt = baseAlt + (spoken.length ? " (" + spoken.join(", ") + ")" : ""); }
      touched = true;
      preload();
    }
    fields.forEach(function (field) {
      field.addEventListener("input", update);
      field.addEventListener("change", update);
      field.addEventListener("focus", touch);
    });
    root.addEventListener("pointerenter", touch);
    root.addEventListener("touchstart", touch, { passive: true });
    root.querySelectorAll("button[data-play]").forEach(function (button) {
      var field = root.querySelector('[data-axis="' + button.getAttribute("data-play") + '"]');
      var timer = null;
      function stop() {
        clearInterval(timer);
        timer = null;
        button.innerHTML = "&#9654;";
        button.setAttribute("aria-pressed", "false");
      }
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", function (event) {
        event.preventDefault();
        if (timer) { stop(); return; }
        if (Number(field.value) >= Number(field.max)) { field.value = "0"; update(); }
        button.innerHTML = "&#10074;&#10074;";
        button.setAttribute("aria-pressed", "true");
        timer = setInterval(function () {
          if (Number(field.value) >= Number(field.max)) { stop(); return; }
          field.value = String(Number(field.value) + 1);
          update();
        }, 900);
      });
    });
  }
  // Figures shown at less than 90 % of their drawn width (a phone, a narrow window) open at full
  // size on a tap, a click, or Enter; the view scrolls, and a tap, Escape or "Close" ends it.
  function zoomable(img) {
    if (img.classList.contains("ntk-zoomable")) { return; }
    img.classList.add("ntk-zoomable");
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    img.setAttribute("aria-label", "enlarge: " + (img.alt || "figure"));
    function open(event) {
      if (!img.naturalWidth || img.getBoundingClientRect().width >= 0.9 * img.naturalWidth) { return; }
      if (event) { event.preventDefault(); }
      var view = document.createElement("div");
      view.className = "ntk-zoom";
      view.setAttribute("role", "dialog");
      view.setAttribute("aria-modal", "true");
      view.setAttribute("aria-label", "enlarged figure");
      var big = document.createElement("img");
      big.src = img.currentSrc || img.src;
      big.alt = img.alt;
      big.width = img.naturalWidth;
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      function done() { view.remove(); document.removeEventListener("keydown", key); img.focus(); }
      function key(e) { if (e.key === "Escape") { done(); } }
      view.addEventListener("click", done);
      document.addEventListener("keydown", key);
      view.appendChild(close);
      view.appendChild(big);
      document.body.appendChild(view);
      close.focus();
    }
    img.addEventListener("click", open);
    img.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { open(e); } });
  }
  // Search results: the snippets Sphinx cuts from a page's HTML show its math as raw TeX
  // ("\\(\\Theta^{(L)}_\\infty\\)"); they are turned into plain text ("Θ^(L)_∞").
  var SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", Gamma: "Γ", delta: "δ", Delta: "Δ", epsilon: "ε",
    varepsilon: "ε", eta: "η", theta: "θ", Theta: "Θ", lambda: "λ", Lambda: "Λ", mu: "μ", nu: "ν",
    pi: "π", rho: "ρ", sigma: "σ", Sigma: "Σ", tau: "τ", phi: "φ", varphi: "φ", Phi: "Φ", psi: "ψ",
    omega: "ω", Omega: "Ω", xi: "ξ", ell: "ℓ", infty: "∞", to: "→", rightarrow: "→", in: "∈",
    le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "∼", cdot: "·",
    times: "×", sum: "∑", prod: "∏", int: "∫", partial: "∂", nabla: "∇", sqrt: "√", pm: "±",
    langle: "⟨", rangle: "⟩", mid: "|", dots: "…", ldots: "…", cdots: "⋯", top: "ᵀ"
  };
  function plainTeX(text) {
    return text
      .replace(/\\[()\[\]]|\$\$/g, "")
      .replace(/\\mathbb\{R\}/g, "ℝ")
      .replace(/\\frac\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)")
      .replace(/\\[,;:! ]/g, " ")
      .replace(/\\([A-Za-z]+)/g, function (all, name) { return SYMBOLS[name] || ""; })
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ");
  }
  function plainSearchSnippets() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.ntkPlain) { return; }
    var toText = Search.htmlToText;
    Search.htmlToText = function () { return plainTeX(toText.apply(Search, arguments)); };
    Search.ntkPlain = true;
  }
  function init() {
    plainSearchSnippets();
    document.querySelectorAll("div.ntk-widget").forEach(setup);
    var article = document.querySelector("article") || document.body;
    article.querySelectorAll("div.cell_output img, figure img, div.ntk-widget img, img.align-center").forEach(zoomable);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
