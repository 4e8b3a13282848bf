/* global Chart, document */
// The report page's charts, drawn by Chart.js (served by Mailroom itself, next to this file) from
// the page's inert JSON block: the same figures as the tables, from the same computation.
// Chart.js draws text on a canvas, never as markup, so category names need no escaping here.
'use strict';

(function drawReportCharts() {
  const block = document.getElementById('report-data');
  if (!block || typeof Chart === 'undefined') return;
  const { timeline } = JSON.parse(block.textContent || '{}');

  /** Outcomes in the order a support lead reads them, with one colour each. */
  const OUTCOMES = [
    ['completed_automatically', 'completed automatically', '#2e7d32'],
    ['completed_after_approval', 'completed after approval', '#8bc34a'],
    ['awaiting_approval', 'awaiting approval', '#fbc02d'],
    ['rejected', 'rejected', '#795548'],
    ['escalated', 'escalated', '#ef6c00'],
    ['quarantined', 'quarantined', '#c62828'],
    ['shadowed', 'shadowed', '#5c6bc0'],
    ['in_progress', 'in progress', '#9e9e9e'],
  ];
  const PALETTE = [
    '#1565c0',
    '#00897b',
    '#f4511e',
    '#8e24aa',
    '#c0ca33',
    '#6d4c41',
    '#d81b60',
    '#546e7a',
    '#fdd835',
    '#3949ab',
  ];

  const label = (iso) =>
    timeline.bucket === 'hour' ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}:00` : iso.slice(0, 10);
  const labels = timeline.buckets.map((b) => label(b.start));
  const total = (values) => values.reduce((a, b) => a + b, 0);

  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const stacked = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { position: 'bottom' } },
    scales: {
      x: { stacked: true, grid: { display: false } },
      y: {
        stacked: true,
        beginAtZero: true,
        ticks: { precision: 0 },
        title: { display: true, text: 'emails' },
      },
    },
  };

  // Only the series with at least one email get a legend entry; `mailroomKey` names each.
  const outcomeSets = OUTCOMES.map(([key, name, colour]) => ({
    mailroomKey: key,
    label: name,
    data: timeline.buckets.map((b) => b.outcomes[key] || 0),
    backgroundColor: colour,
  })).filter((d) => total(d.data) > 0);
  const categorySets = timeline.categories.map((category, i) => ({
    mailroomKey: category,
    label: category,
    data: timeline.buckets.map((b) => b.categories[category] || 0),
    backgroundColor: PALETTE[i % PALETTE.length],
  }));

  const charts = {
    outcomes: new Chart(document.getElementById('chart-outcomes'), {
      type: 'bar',
      data: { labels, datasets: outcomeSets },
      options: stacked,
    }),
    categories: new Chart(document.getElementById('chart-categories'), {
      type: 'bar',
      data: { labels, datasets: categorySets },
      options: stacked,
    }),
    decisions: new Chart(document.getElementById('chart-decisions'), {
      type: 'bar',
      data: {
        labels: timeline.decisions.map((b) => b.label),
        datasets: [
          {
            mailroomKey: 'decisions',
            label: 'decisions',
            data: timeline.decisions.map((b) => b.count),
            backgroundColor: '#00838f',
          },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: {
            title: { display: true, text: 'from parking to a human’s decision' },
            grid: { display: false },
          },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'parked plans' } },
        },
      },
    }),
  };
  document.body.dataset.charts = Object.keys(charts).join(' ');
})();
