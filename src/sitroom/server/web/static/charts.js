/* Draws the dashboard's charts: each <figure data-chart> holds its Vega-Lite spec in a
   <script type="application/json"> (data, not script: the CSP allows reading it). The
   caption and the data table under each chart are the server's; this only draws.
   Expressions are evaluated by vega-interpreter (ast: true), so no code is generated
   at run time: the Content-Security-Policy has no 'unsafe-eval'. */
(function () {
  "use strict";

  function draw(figure) {
    var source = figure.querySelector("script.chart-spec");
    var target = figure.querySelector(".chart-draw");
    if (!source || !target) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var options = {
      actions: false,
      renderer: "svg",
      defaultStyle: false,
      ast: true,
      expr: window.vegaInterpreter.expressionInterpreter,
      tooltip: { disableDefaultStyle: true }
    };
    window.vegaEmbed(target, spec, options).then(function (result) {
      figure.classList.add("drawn");
      var svg = target.querySelector("svg");
      if (svg) {
        // The table under the chart is its text alternative; the drawing is named by
        // the figure's caption.
        svg.setAttribute("role", "img");
        svg.setAttribute("aria-label", figure.querySelector("figcaption strong").textContent);
      }
      return result;
    }).catch(function (error) {
      figure.classList.add("failed");
      console.error("chart " + figure.id + ": " + error);
    });
  }

  function start() {
    if (!window.vegaEmbed || !window.vegaInterpreter) {
      return;
    }
    var figures = document.querySelectorAll("figure[data-chart]");
    for (var i = 0; i < figures.length; i += 1) {
      draw(figures[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
