// DOM building and formatting helpers. Text goes in as text nodes, never as
// HTML: message bodies and queue names are data, not markup.

/** h("td", { class: "num" }, "42"): an element with attributes and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function replaceChildren(element, ...children) {
  element.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const numberFormat = new Intl.NumberFormat("en-US");

export function formatCount(value) {
  return numberFormat.format(Number(value || 0));
}

/** 42s, 3m 12s, 2h 05m, 3d 4h */
export function formatAge(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A millisecond timestamp (number or string) in local time: 14:03:27 today, else Dec 02 14:03:27. */
export function formatTime(ms) {
  const date = new Date(Number(ms));
  if (Number.isNaN(date.getTime())) return "—";
  const time = date.toLocaleTimeString("en-GB", { hour12: false });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString("en-US", { month: "short", day: "2-digit" })} ${time}`;
}

/** "SignatureDoesNotMatch: The request signature ... (HTTP 403)" */
export function describeError(err) {
  if (err && err.code) {
    const status = err.status ? ` (HTTP ${err.status})` : "";
    return [h("strong", {}, err.code), `: ${err.message}${status}`];
  }
  return [h("strong", {}, "Error"), `: ${err && err.message ? err.message : String(err)}`];
}

/** The last part of an ARN: arn:aws:sqs:REGION:ACCOUNT:NAME -> { account, name } */
export function parseArn(arn) {
  const parts = String(arn || "").split(":");
  return parts.length === 6 ? { region: parts[3], account: parts[4], name: parts[5] } : null;
}

/** The console's page for a queue, from its URL (…/ACCOUNT/NAME). */
export function queueHref(queueUrl) {
  const [account, name] = new URL(queueUrl).pathname.split("/").slice(-2);
  return `#/queues/${encodeURIComponent(account)}/${encodeURIComponent(name)}`;
}

export function queueHrefFromArn(arn) {
  const parsed = parseArn(arn);
  return parsed ? `#/queues/${encodeURIComponent(parsed.account)}/${encodeURIComponent(parsed.name)}` : null;
}

/** A small coloured label: badge("FIFO", "fifo") */
export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** A panel's one-line outcome: showStatus(el, "error", ...describeError(err)) */
export function showStatus(element, kind, ...content) {
  element.className = `status status-${kind}`;
  replaceChildren(element, ...content);
  element.hidden = false;
}

/** A labelled form field: field("Body", h("textarea", {...}), "optional hint") */
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), control, hint ? h("span", { class: "hint" }, hint) : null);
}
