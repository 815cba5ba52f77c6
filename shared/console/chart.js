// The activity chart: one line per kind of change over the buckets of GET .../activity,
// drawn as inline SVG (colours come from console.css classes, so the strict CSP holds), with
// a summary for screen readers and the same numbers as a table.

import { h, s } from "./dom.js";

export const SERIES = [
  { key: "creates", label: "Creates" },
  { key: "updates", label: "Updates" },
  { key: "deactivations", label: "Deactivations" },
  { key: "deletes", label: "Deletes" },
  { key: "errors", label: "Errors" },
];

const WIDTH = 760;
const HEIGHT = 260;
const PAD = { top: 16, right: 16, bottom: 34, left: 48 };

/** 0, and a round top at or above `max` split into 4 even steps (0-4-8-12-16, 0-25-50-...). */
export function niceTicks(max) {
  if (max <= 0) return [0, 1, 2, 3, 4];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= rough);
  const whole = Math.max(1, Math.round(step));
  return [0, 1, 2, 3, 4].map((i) => i * whole);
}

function hourLabel(iso) {
  return new Date(iso).toISOString().slice(11, 16);
}

function dayLabel(iso) {
  return new Date(iso).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/** A <figure> with the chart, its legend, and a <details> table of the same data. */
export function activityChart(activity, idPrefix = "activity") {
  const buckets = activity.series || [];
  const totals = Object.fromEntries(
    SERIES.map(({ key }) => [key, buckets.reduce((sum, b) => sum + (b[key] || 0), 0)]),
  );
  const peak = Math.max(0, ...buckets.flatMap((b) => SERIES.map(({ key }) => b[key] || 0)));
  const ticks = niceTicks(peak);
  const top = ticks[ticks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (buckets.length <= 1 ? plotW / 2 : (i * plotW) / (buckets.length - 1));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const hours = Math.round((buckets.length * (activity.bucket_minutes || 60)) / 60);
  const summary = buckets.length
    ? `Last ${hours} hours, ${buckets.length} buckets of ${activity.bucket_minutes} minutes: ` +
      SERIES.map(({ key, label }) => `${totals[key]} ${label.toLowerCase()}`).join(", ") + "."
    : "No activity recorded.";

  const grid = ticks.map((t) =>
    s("g", { class: "tick" },
      s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t), class: "grid" }),
      s("text", { x: PAD.left - 8, y: y(t) + 4, "text-anchor": "end" }, String(t))));
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  const xLabels = buckets.map((b, i) => {
    if (i % every !== 0 && i !== buckets.length - 1) return null;
    // The first label and midnight name the day; the others only the hour.
    let text = hourLabel(b.start);
    if (i === 0) text = `${dayLabel(b.start)} ${text}`;
    else if (text === "00:00") text = dayLabel(b.start);
    return s("text", { x: x(i), y: HEIGHT - PAD.bottom + 18, "text-anchor": "middle" }, text);
  });
  const lines = SERIES.map(({ key }) => {
    const points = buckets.map((b, i) => `${x(i).toFixed(1)},${y(b[key] || 0).toFixed(1)}`);
    return s("g", { class: `series s-${key}` },
      s("polyline", { points: points.join(" ") }),
      buckets.map((b, i) => (b[key] ? s("circle", { cx: x(i), cy: y(b[key]), r: 3 }) : null)));
  });

  const titleId = `${idPrefix}-title`;
  const descId = `${idPrefix}-desc`;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": `${titleId} ${descId}`,
    class: "chart", preserveAspectRatio: "xMidYMid meet", focusable: "false",
  },
  s("title", { id: titleId }, "Provisioning activity"),
  s("desc", { id: descId }, summary),
  s("g", { class: "axis" }, grid,
    s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "baseline" }),
    xLabels,
    s("text", { x: WIDTH - PAD.right, y: HEIGHT - 2, "text-anchor": "end", class: "unit" }, "time (UTC)")),
  lines);

  const legend = h("ul", { class: "legend", "aria-label": "Legend" },
    SERIES.map(({ key, label }) =>
      h("li", {}, h("span", { class: `swatch s-${key}`, "aria-hidden": "true" }),
        `${label} `, h("strong", {}, String(totals[key])))));

  const table = h("table", { class: "data" },
    h("caption", {}, "Activity per bucket (UTC)"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "From"),
      SERIES.map(({ label }) => h("th", { scope: "col", class: "num" }, label)))),
    h("tbody", {}, buckets.map((b) => h("tr", {},
      h("th", { scope: "row" }, `${dayLabel(b.start)} ${hourLabel(b.start)}`),
      SERIES.map(({ key }) => h("td", { class: "num" }, String(b[key] || 0)))))));

  return h("figure", { class: "activity" },
    h("div", { class: "chart-frame", tabindex: "0", role: "group", "aria-label": "Activity chart; scrolls sideways on narrow screens" }, svg),
    legend,
    h("details", { class: "as-table" }, h("summary", {}, "Show the numbers as a table"), table));
}
