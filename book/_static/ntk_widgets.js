// Static players of ntk_course.chapters.widgets.interactive_figure: each control picks a value on
// its grid, and the frame drawn at build time for that combination replaces the image. Offline.
(function () {
  "use strict";
  function setup(root) {
    var data = JSON.parse(root.querySelector("script.ntk-widget-data").textContent);
    var image = root.querySelector("img.ntk-widget-frame");
    var fields = Array.prototype.slice.call(root.querySelectorAll("[data-axis]"));
    function update() {
      var index = 0;
      fields.forEach(function (field) {
        var axis = Number(field.getAttribute("data-axis"));
        var value = Number(field.value);
        index = index * data.sizes[axis] + value;
        var labels = field.getAttribute("data-labels");
        if (labels) { field.nextElementSibling.textContent = JSON.parse(labels)[value]; }
      });
      image.src = "data:image/png;base64," + data.frames[index];
    }
    fields.forEach(function (field) { field.addEventListener("input", update); field.addEventListener("change", update); });
  }
  function init() { document.querySelectorAll("div.ntk-widget").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
