// Peek: BucketQ.PeekMessages lists a queue's messages without receiving them
// (no receive count, no visibility change). It runs when the queue page opens
// and on demand, not on every refresh, so a body being read stays put.

import { badge, describeError, field, formatTime, h, replaceChildren, showStatus } from "./dom.js";

const STATE_LABELS = { visible: "visible", "in-flight": "in flight", delayed: "delayed" };

function stateCell(message) {
  const state = message.State || "visible";
  const until = state !== "visible" && message.VisibleAtTimestamp
    ? h("div", { class: "muted small" }, `until ${formatTime(message.VisibleAtTimestamp)}`)
    : null;
  return h("td", { class: "state" }, badge(STATE_LABELS[state] || state, state), until);
}

function attributeChips(message) {
  const chips = [];
  const system = message.Attributes || {};
  if (system.MessageGroupId) chips.push(["group", system.MessageGroupId]);
  for (const [name, value] of Object.entries(message.MessageAttributes || {})) {
    const shown = value.StringValue !== undefined ? value.StringValue : `(${value.DataType})`;
    chips.push([name, shown]);
  }
  if (!chips.length) return null;
  return h("div", { class: "chips" }, chips.map(([name, value]) => h("span", { class: "chip" }, h("b", {}, name), ` ${value}`)));
}

function messageRow(message) {
  const attributes = message.Attributes || {};
  return h(
    "tr",
    { class: "message", "data-message-id": message.MessageId },
    h("td", { class: "id mono", title: message.MessageId }, message.MessageId.slice(0, 8) + "…"),
    stateCell(message),
    h("td", { class: "sent" }, formatTime(attributes.SentTimestamp)),
    h("td", { class: "num receives" }, attributes.ApproximateReceiveCount || "0"),
    h("td", { class: "payload" }, h("pre", { class: "body" }, message.Body), attributeChips(message)),
  );
}

export class PeekPanel {
  constructor(app, view) {
    this.app = app;
    this.view = view;
    this.count = h("input", { id: "peek-count", type: "number", min: 1, max: 100, value: 10, required: true });
    this.status = h("p", { class: "status", id: "peek-status", hidden: true });
    this.body = h("tbody");
    this.lastPeek = 0; // the latest peek's sequence number
    this.table = h(
      "table",
      { class: "grid messages", id: "messages", hidden: true },
      h("thead", {}, h("tr", {}, ["Message", "State", "Sent", "Receives", "Body"].map((label) =>
        h("th", { scope: "col", class: label === "Receives" ? "num" : null }, label)))),
      this.body,
    );
    this.element = h(
      "section",
      { class: "card panel", id: "peek-panel" },
      h("div", { class: "panel-head" },
        h("h2", {}, "Messages"),
        h("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); this.peek(); } },
          field("Show up to", this.count),
          h("button", { type: "submit", id: "peek-button" }, "Peek"))),
      h("p", { class: "muted small" }, "Peeking receives nothing: receive counts and visibility stay as they are."),
      this.status,
      this.table,
    );
  }

  /**
   * Peeks may overlap (panel build, the button, after a send, a purge or a
   * redrive): only the latest request's answer is shown, stamped with the time
   * it was asked, so an older answer arriving late never passes for fresh.
   */
  async peek() {
    const seq = ++this.lastPeek;
    const askedAt = Date.now();
    const max = Math.min(100, Math.max(1, Number(this.count.value) || 10));
    try {
      const { Messages = [] } = await this.app.api.call("BucketQ.PeekMessages", {
        QueueUrl: this.view.url, MaxNumberOfMessages: max,
      });
      if (seq !== this.lastPeek) return; // a newer peek is under way
      replaceChildren(this.body, Messages.map(messageRow));
      this.table.hidden = Messages.length === 0;
      const what = Messages.length === 1 ? "1 message" : `${Messages.length} messages`;
      showStatus(this.status, "info", `Peeked ${what} at ${formatTime(askedAt)}.`);
    } catch (err) {
      if (seq !== this.lastPeek) return;
      this.table.hidden = true;
      showStatus(this.status, "error", ...describeError(err));
    }
  }
}
