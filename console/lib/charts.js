// Small SVG charts drawn in the page (no library): bars per day or per category, lines, and a
// level's sales history with its forecast band, with a title for screen readers and the numbers
// in a table beside them.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** The chart's <svg>, an image for screen readers named `summary`, with `title` as its tooltip. */
function chartSvg(title, summary, width, height) {
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": summary,
    class: "chart",
    width,
    height,
    preserveAspectRatio: "xMinYMin meet",
  });
  svg.append(el("title", {}, title));
  return svg;
}

/**
 * The value axis: a grid line across the plot at each of `steps` (fractions of `max`), with its
 * value at the left.
 */
function valueAxis(svg, { left, top, plotH, width, max, steps = [0, 0.5, 1] }) {
  for (const f of steps) {
    const y = top + plotH - f * plotH;
    svg.append(el("line", { x1: left, x2: width - 4, y1: y, y2: y, class: "grid" }));
    const v = max * f;
    svg.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, Number.isInteger(v) ? String(v) : v.toFixed(1)));
  }
}

/** The chart in a <figure> with its caption, and a legend of `keys` ([class, name]) when given. */
function figure(svg, caption, keys = []) {
  const fig = document.createElement("figure");
  fig.className = "chart-figure";
  fig.append(svg);
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  if (keys.length) {
    const legend = document.createElement("span");
    legend.className = "legend";
    for (const [cls, name] of keys) {
      const item = document.createElement("span");
      item.className = `key ${cls}`;
      item.textContent = name;
      legend.append(item);
    }
    cap.append(" ", legend);
  }
  fig.append(cap);
  return fig;
}

/**
 * A bar chart. `labels` are the x categories; `series` is [{name, values, cls}] drawn as grouped
 * bars. Returns a <figure> with the SVG (role="img", labelled) and a caption.
 */
export function barChart({ title, labels, series, caption, height = 180 }) {
  const width = Math.max(320, labels.length * (series.length * 10 + 8) + 60);
  const left = 44, bottom = 34, top = 10;
  const plotH = height - bottom - top;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const summary = `${title}: ` + labels.map((l, i) => `${l} ${series.map((s) => `${s.name} ${s.values[i]}`).join(", ")}`).join("; ");
  const svg = chartSvg(title, summary, width, height);
  valueAxis(svg, { left, top, plotH, width, max, steps: max >= 2 ? [0, 0.5, 1] : [0, 1] });
  const slot = (width - left - 8) / Math.max(1, labels.length);
  const barW = Math.max(3, Math.min(18, (slot - 4) / series.length));
  labels.forEach((label, i) => {
    const x0 = left + i * slot + (slot - barW * series.length) / 2;
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0;
      const h = (v / max) * plotH;
      const bar = el("rect", { x: x0 + j * barW, y: top + plotH - h, width: barW - 1, height: h, class: `bar ${s.cls ?? ""}` });
      bar.append(el("title", {}, `${label}: ${s.name} ${v}`));
      svg.append(bar);
    });
    const every = Math.ceil(labels.length / 10);
    if (i % every === 0) {
      svg.append(el("text", { x: left + i * slot + slot / 2, y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  return figure(svg, caption ?? title, series.length > 1 ? series.map((s) => [s.cls ?? "", s.name]) : []);
}

/** The last `days` UTC dates ending today (or at `end`), as YYYY-MM-DD. */
export function lastDays(days, end = new Date()) {
  const out = [];
  const t = Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate());
  for (let i = days - 1; i >= 0; i--) out.push(new Date(t - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

/** Units sold, received and refunded per day from ledger entries (any order). */
export function dailyFromLedger(entries, days) {
  const index = new Map(days.map((d, i) => [d, i]));
  const sold = days.map(() => 0), received = days.map(() => 0), refunded = days.map(() => 0);
  for (const e of entries) {
    const i = index.get(String(e.at).slice(0, 10));
    if (i === undefined) continue;
    if (e.kind === "sale") sold[i] += e.quantity;
    else if (e.kind === "receipt") received[i] += e.quantity;
    else if (e.kind === "refund" && e.restocked !== false) refunded[i] += e.quantity;
  }
  return { sold, received, refunded };
}

/** Totals per day from trend rows ({day, sold, received, refunded}). */
export function dailyFromTrends(rows) {
  const byDay = new Map();
  for (const r of rows) {
    // Reports written before the row's day was `day` named it `dt`.
    const day = r.day ?? r.dt;
    const d = byDay.get(day) ?? { sold: 0, received: 0, refunded: 0 };
    d.sold += r.sold;
    d.received += r.received;
    d.refunded += r.refunded;
    byDay.set(day, d);
  }
  const labels = [...byDay.keys()].sort();
  return {
    labels,
    sold: labels.map((l) => byDay.get(l).sold),
    received: labels.map((l) => byDay.get(l).received),
    refunded: labels.map((l) => byDay.get(l).refunded),
  };
}

/** The change of on_hand a ledger entry made (from its before/after, else its delta). */
function onHandChange(e) {
  if (e.before && e.after) return e.after.on_hand - e.before.on_hand;
  return e.delta?.on_hand ?? 0;
}

/**
 * End-of-day on_hand per day of `days` (YYYY-MM-DD, oldest first), put back from the on_hand now
 * (`current`) and the ledger entries since: each day ends with what is on hand now less what
 * every later entry changed.
 */
export function stockFromLedger(entries, days, current) {
  const changeAfter = (day) => entries
    .filter((e) => String(e.at).slice(0, 10) > day)
    .reduce((sum, e) => sum + onHandChange(e), 0);
  return days.map((d) => current - changeAfter(d));
}

/** End-of-day on_hand per day from trend rows ({day, on_hand}), summed over levels. */
export function stockFromTrends(rows) {
  const byDay = new Map();
  for (const r of rows) {
    const day = r.day ?? r.dt;
    byDay.set(day, (byDay.get(day) ?? 0) + (r.on_hand ?? 0));
  }
  const labels = [...byDay.keys()].sort();
  return { labels, values: labels.map((l) => byDay.get(l)) };
}

/**
 * When stock runs out at the current rate: `days` of cover (available ÷ units sold per day) and
 * the date, from `lastDay` (YYYY-MM-DD). Null without sales.
 */
export function projectStockOut(available, perDay, lastDay) {
  if (!(perDay > 0)) return null;
  const days = Math.max(0, available) / perDay;
  // Beyond ten years is no stock-out to plan for (and past what a date can hold).
  if (!(days <= 3650)) return null;
  const t = Date.parse(`${lastDay}T00:00:00Z`) + Math.floor(days) * 86_400_000;
  return { days: Math.round(days * 10) / 10, date: new Date(t).toISOString().slice(0, 10) };
}

/**
 * A line chart of one series (`values` over `labels`), and, with `projection` ({days, date}), a
 * dashed line from the last point down to zero at the projected stock-out, drawn to scale when it
 * falls within as many days again as the chart shows (else to the right edge, and said).
 */
export function lineChart({ title, labels, values, caption, projection, height = 180 }) {
  const n = labels.length;
  const ahead = projection ? Math.min(Math.ceil(projection.days), n) : 0;
  const slots = Math.max(1, n - 1 + ahead);
  const width = Math.max(320, (n + ahead) * 14 + 60);
  const left = 44, bottom = 34, top = 10;
  const plotH = height - bottom - top;
  const max = niceMax(Math.max(0, ...values));
  const x = (i) => left + (i / slots) * (width - left - 12);
  const y = (v) => top + plotH - (Math.max(0, v) / max) * plotH;
  const summary = `${title}: ` + labels.map((l, i) => `${l} ${values[i]}`).join("; ") +
    (projection ? `; projected stock-out ${projection.date}` : "");
  const svg = chartSvg(title, summary, width, height);
  valueAxis(svg, { left, top, plotH, width, max });
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.append(el("polyline", { points, class: "line s1", fill: "none" }));
  values.forEach((v, i) => {
    const dot = el("circle", { cx: x(i), cy: y(v), r: 2.5, class: "dot s1" });
    dot.append(el("title", {}, `${labels[i]}: on hand ${v}`));
    svg.append(dot);
    const every = Math.ceil(n / 10);
    if (i % every === 0) svg.append(el("text", { x: x(i), y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, labels[i]));
  });
  if (projection && n) {
    const last = values[n - 1];
    const end = n - 1 + ahead;
    const line = el("line", { x1: x(n - 1), y1: y(last), x2: x(end), y2: y(0), class: "projection" });
    line.append(el("title", {}, `Projected stock-out ${projection.date} (${projection.days} days of cover)`));
    svg.append(line);
    svg.append(el("text", { x: x(end), y: y(0) - 6, "text-anchor": "end", class: "axis" }, `out ~${projection.date.slice(5)}`));
  }
  const beyond = projection && Math.ceil(projection.days) > n ? " (beyond the chart's right edge)" : "";
  return figure(svg, (caption ?? title) + (projection
    ? ` Projected stock-out at the current rate: ${projection.date}, in ${projection.days} days${beyond}.`
    : " No sales in the last 7 days, so no stock-out is projected."));
}

/** Units sold, received and written off per day from `GET /v1/skus/{sku}/daily` (oldest day first). */
export function dailyFromCounters(days) {
  return {
    sold: days.map((d) => d.sold),
    received: days.map((d) => d.received),
    writtenOff: days.map((d) => d.written_off ?? 0),
  };
}

/**
 * End-of-day units on hand, put back from today's stock by the daily counters (what was sold,
 * received, refunded and written off each day); stocktakes and transfers are not in the counters.
 */
export function stockFromCounters(days, current) {
  const out = new Array(days.length);
  let onHand = current;
  for (let i = days.length - 1; i >= 0; i--) {
    out[i] = onHand;
    const d = days[i];
    onHand = onHand + d.sold - d.received - d.refunded + (d.written_off ?? 0);
  }
  return out;
}

/**
 * A level's sales history and its forecast: the units sold per day (`history` on `historyDays`)
 * as a line, then the forecast per day (`forecast` on `forecastDays`) as a dashed line inside its
 * band (`low` to `high`), on one axis of days (a gap between the two is drawn to scale). Returns
 * a <figure> with the SVG (role="img", labelled with a summary), a caption and a legend.
 */
export function forecastChart({ title, historyDays, history, forecastDays, forecast, low, high, caption, height = 200 }) {
  const days = [...historyDays, ...forecastDays];
  const t0 = days.length ? Date.parse(`${days[0]}T00:00:00Z`) : 0;
  const index = (d) => Math.round((Date.parse(`${d}T00:00:00Z`) - t0) / 86_400_000);
  const span = Math.max(1, days.length ? index(days.at(-1)) : 1);
  const width = Math.max(480, Math.min(720, (span + 1) * 12 + 60));
  const left = 44, right = 12, bottom = 34, top = 10;
  const plotH = height - bottom - top;
  const max = niceMax(Math.max(0, ...history, ...forecast, ...high));
  const x = (d) => left + (index(d) / span) * (width - left - right);
  const y = (v) => top + plotH - (Math.max(0, v) / max) * plotH;
  const fmt = (v) => String(Math.round(v * 100) / 100);
  const mean = forecast.length ? forecast.reduce((a, b) => a + b, 0) / forecast.length : 0;
  const summary = `${title}: ` +
    (history.length ? `${history.length} days sold from ${historyDays[0]} to ${historyDays.at(-1)}, the last ${Math.min(7, history.length)}: ${history.slice(-7).join(", ")}` : "no sales history") +
    (forecast.length ? `; forecast ${fmt(mean)} a day from ${forecastDays[0]} to ${forecastDays.at(-1)}, band ${fmt(Math.min(...low))} to ${fmt(Math.max(...high))}` : "; no forecast");
  const svg = chartSvg(title, summary, width, height);
  valueAxis(svg, { left, top, plotH, width, max });
  if (forecast.length) {
    const upper = forecastDays.map((d, i) => `${x(d).toFixed(1)},${y(high[i]).toFixed(1)}`);
    const lower = forecastDays.map((d, i) => `${x(d).toFixed(1)},${y(low[i]).toFixed(1)}`).reverse();
    const band = el("polygon", { points: [...upper, ...lower].join(" "), class: "band" });
    band.append(el("title", {}, `Forecast band: ${fmt(Math.min(...low))} to ${fmt(Math.max(...high))} a day`));
    svg.append(band);
    const start = x(forecastDays[0]);
    svg.append(el("line", { x1: start, x2: start, y1: top, y2: top + plotH, class: "today" }));
    svg.append(el("polyline", { points: forecastDays.map((d, i) => `${x(d).toFixed(1)},${y(forecast[i]).toFixed(1)}`).join(" "), class: "forecast", fill: "none" }));
  }
  if (history.length) {
    svg.append(el("polyline", { points: historyDays.map((d, i) => `${x(d).toFixed(1)},${y(history[i]).toFixed(1)}`).join(" "), class: "line s1", fill: "none" }));
    historyDays.forEach((d, i) => {
      const dot = el("circle", { cx: x(d), cy: y(history[i]), r: 2.5, class: "dot s1" });
      dot.append(el("title", {}, `${d}: sold ${history[i]}`));
      svg.append(dot);
    });
  }
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    if (i % every === 0) svg.append(el("text", { x: x(d), y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, d.slice(5)));
  });
  return figure(svg, caption ?? title, [["s1", "units sold"], ["forecast", "forecast"], ["band", "band"]]);
}
