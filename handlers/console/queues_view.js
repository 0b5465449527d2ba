// The list of queues with their counts: ListQueues, then one
// BucketQ.GetQueueStats per queue, on every refresh.

import { ApiError } from "./api.js";
import { badge, formatAge, formatCount, h, queueHref, queueHrefFromArn, replaceChildren, parseArn } from "./dom.js";

const COLUMNS = [
  ["Queue", "name"],
  ["Visible", "num visible"],
  ["In flight", "num in-flight"],
  ["Delayed", "num delayed"],
  ["Oldest message", "num oldest"],
  ["Dead-letter queue", "dlq"],
];

function total(stats) {
  return (
    Number(stats.ApproximateNumberOfMessagesVisible || 0) +
    Number(stats.ApproximateNumberOfMessagesNotVisible || 0) +
    Number(stats.ApproximateNumberOfMessagesDelayed || 0)
  );
}

function oldest(stats) {
  if (stats.ApproximateAgeOfOldestMessage === undefined || total(stats) === 0) return "—";
  return formatAge(stats.ApproximateAgeOfOldestMessage);
}

function row(stats, isDeadLetterQueue) {
  const dlq = stats.DeadLetterQueueArn ? parseArn(stats.DeadLetterQueueArn) : null;
  return h(
    "tr",
    { "data-queue": stats.QueueName },
    h(
      "td",
      { class: "name" },
      h("a", { href: queueHref(stats.QueueUrl) }, stats.QueueName),
      stats.FifoQueue ? badge("FIFO", "fifo") : null,
      isDeadLetterQueue ? badge("DLQ", "dlq") : null,
    ),
    h("td", { class: "num visible" }, formatCount(stats.ApproximateNumberOfMessagesVisible)),
    h("td", { class: "num in-flight" }, formatCount(stats.ApproximateNumberOfMessagesNotVisible)),
    h("td", { class: "num delayed" }, formatCount(stats.ApproximateNumberOfMessagesDelayed)),
    h("td", { class: "num oldest" }, oldest(stats)),
    h(
      "td",
      { class: "dlq" },
      dlq ? h("a", { href: queueHrefFromArn(stats.DeadLetterQueueArn) }, dlq.name) : h("span", { class: "muted" }, "—"),
    ),
  );
}

export class QueuesView {
  constructor(app) {
    this.app = app;
    this.title = "Queues";
    this.summary = h("p", { class: "muted summary" });
    this.body = h("tbody");
    this.empty = h(
      "div",
      { class: "empty", hidden: true },
      h("p", {}, "No queues yet."),
      h("p", { class: "muted" }, "Create one with any SQS client, for example:"),
      h("pre", {}, `aws --endpoint-url ${location.origin} sqs create-queue --queue-name orders`),
    );
    this.table = h(
      "table",
      { class: "grid", id: "queues" },
      h("thead", {}, h("tr", {}, COLUMNS.map(([label, cls]) => h("th", { class: cls, scope: "col" }, label)))),
      this.body,
    );
    this.element = h(
      "section",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", {}, "Queues"), this.summary),
      h("div", { class: "card flush", id: "queues-card" }, this.table, this.empty),
      h("p", { class: "muted small footnote" },
        "Counts are approximate, as in SQS, and refresh every 2 seconds while this tab is visible. " +
        "Oldest message: how long the oldest message has been in the queue (FIFO queues: as of the last sweep)."),
    );
  }

  async refresh() {
    const urls = await this.app.api.listQueues();
    const settled = await Promise.allSettled(urls.map((url) => this.app.api.queueStats(url)));
    const stats = [];
    for (const result of settled) {
      if (result.status === "fulfilled") stats.push(result.value);
      // a queue deleted between the list and its stats is simply gone
      else if (!(result.reason instanceof ApiError && result.reason.code === "QueueDoesNotExist")) throw result.reason;
    }
    stats.sort((a, b) => a.QueueName.localeCompare(b.QueueName));
    const deadLetterArns = new Set(stats.map((s) => s.DeadLetterQueueArn).filter(Boolean));
    replaceChildren(this.body, stats.map((s) => row(s, deadLetterArns.has(s.QueueArn))));
    this.table.hidden = stats.length === 0;
    this.empty.hidden = stats.length !== 0;
    const messages = stats.reduce((sum, s) => sum + total(s), 0);
    this.summary.textContent =
      `${formatCount(stats.length)} ${stats.length === 1 ? "queue" : "queues"}, ` +
      `${formatCount(messages)} ${messages === 1 ? "message" : "messages"}`;
  }
}
