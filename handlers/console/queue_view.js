// One queue: its counts (refreshed live), its messages (peek), and what can be
// done to it: send, purge, and for a dead-letter queue, redrive.

import { badge, formatAge, formatCount, h, parseArn, queueHrefFromArn, replaceChildren } from "./dom.js";
import { PeekPanel } from "./peek_panel.js";
import { PurgePanel } from "./purge_panel.js";
import { RedrivePanel } from "./redrive_panel.js";
import { SendPanel } from "./send_panel.js";

function statCard(label, id) {
  const value = h("div", { class: "stat-value", id }, "…");
  return [h("div", { class: "card stat" }, h("div", { class: "stat-label" }, label), value), value];
}

export class QueueView {
  constructor(app, account, name) {
    this.app = app;
    this.name = name;
    this.title = name;
    this.url = `${location.origin}/${encodeURIComponent(account)}/${encodeURIComponent(name)}`;
    this.stats = null;
    this.redrive = null;
    this.peek = new PeekPanel(app, this);
    this.badges = h("span", { class: "badges" });
    this.meta = h("p", { class: "muted meta" });
    const [visibleCard, visible] = statCard("Visible", "stat-visible");
    const [inFlightCard, inFlight] = statCard("In flight", "stat-in-flight");
    const [delayedCard, delayed] = statCard("Delayed", "stat-delayed");
    const [oldestCard, oldest] = statCard("Oldest message", "stat-oldest");
    this.values = { visible, inFlight, delayed, oldest };
    this.side = h("div", { class: "side" });
    this.element = h(
      "section",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", {}, name, this.badges), this.meta),
      h("div", { class: "stats" }, visibleCard, inFlightCard, delayedCard, oldestCard),
      h("div", { class: "columns" }, this.peek.element, this.side),
    );
  }

  /** The first refresh also builds the panels that depend on the queue's kind. */
  async refresh() {
    const api = this.app.api;
    this.stats = await api.queueStats(this.url);
    if (!this.side.hasChildNodes()) await this.buildPanels();
    this.renderStats();
    if (this.redrive) await this.redrive.refresh();
  }

  async buildPanels() {
    const sources = await this.app.api.call("ListDeadLetterSourceQueues", { QueueUrl: this.url, MaxResults: 1000 });
    const queueUrls = sources.queueUrls || [];
    this.redrive = queueUrls.length ? new RedrivePanel(this.app, this, queueUrls) : null;
    const send = new SendPanel(this.app, this, Boolean(this.stats.FifoQueue));
    const purge = new PurgePanel(this.app, this);
    replaceChildren(this.side, this.redrive ? this.redrive.element : null, send.element, purge.element);
    replaceChildren(this.badges, this.stats.FifoQueue ? badge("FIFO", "fifo") : null, queueUrls.length ? badge("DLQ", "dlq") : null);
    this.peek.peek();
  }

  renderStats() {
    const s = this.stats;
    this.values.visible.textContent = formatCount(s.ApproximateNumberOfMessagesVisible);
    this.values.inFlight.textContent = formatCount(s.ApproximateNumberOfMessagesNotVisible);
    this.values.delayed.textContent = formatCount(s.ApproximateNumberOfMessagesDelayed);
    const total = ["Visible", "NotVisible", "Delayed"].reduce((n, k) => n + Number(s[`ApproximateNumberOfMessages${k}`] || 0), 0);
    this.values.oldest.textContent = s.ApproximateAgeOfOldestMessage === undefined || total === 0 ? "—" : formatAge(s.ApproximateAgeOfOldestMessage);
    const dlq = s.DeadLetterQueueArn ? parseArn(s.DeadLetterQueueArn) : null;
    replaceChildren(
      this.meta,
      h("span", { class: "mono" }, s.QueueArn),
      dlq ? [" · Dead-letter queue: ", h("a", { href: queueHrefFromArn(s.DeadLetterQueueArn), id: "dlq-link" }, dlq.name)] : null,
    );
  }
}
