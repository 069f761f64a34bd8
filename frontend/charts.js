// docroute report charts: a bar chart per KPI page, from the page's own JSON data.
//
// Bundled as an IIFE that sets `window.DocrouteCharts` (Chart.js, tree-shaken to bars).
// Usage: <canvas data-chart="ID"> with <script type="application/json" id="ID">
// {"labels": [...], "series": [{"label": "...", "data": [...]}, ...]}</script>.

import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip }
  from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const COLOURS = [ '#2f6db5', '#3a9a5b', '#c0392b', '#d68910' ];

export function draw(canvas) {
  const source = document.getElementById(canvas.dataset.chart);
  if (!source) {
    return null;
  }
  const spec = JSON.parse(source.textContent);
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: spec.labels,
      datasets: spec.series.map((s, i) => ({
        label: s.label, data: s.data, backgroundColor: COLOURS[i % COLOURS.length]
      }))
    },
    options: {
      animation: false,
      responsive: true,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
}

export function drawAll(root = document) {
  return Array.from(root.querySelectorAll('canvas[data-chart]')).map(draw);
}

if (typeof document !== 'undefined') {
  document.addEventListener('DOMContentLoaded', () => drawAll());
}
