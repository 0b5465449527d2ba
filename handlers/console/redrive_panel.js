// Redrive a dead-letter queue back to its source queues: StartMessageMoveTask
// without a destination, then the task's progress from ListMessageMoveTasks
// on every refresh. Shown only for a queue that is some queue's DLQ.

import {
  badge, describeError, field, formatCount, formatTime, h, parseArn, queueHref, replaceChildren, showStatus,
} from "./dom.js";

const STATUS_KINDS = { RUNNING: "in-flight", COMPLETED: "visible", CANCELLING: "delayed", CANCELLED: "delayed", FAILED: "error" };

function taskItem(task, cancel) {
  const moved = Number(task.ApproximateNumberOfMessagesMoved || 0);
  const toMove = Number(task.ApproximateNumberOfMessagesToMove || 0);
  const destination = task.DestinationArn ? parseArn(task.DestinationArn)?.name : "the source queues";
  return h(
    "li",
    { class: "task", "data-status": task.Status },
    h("div", { class: "task-head" },
      badge(task.Status.toLowerCase(), STATUS_KINDS[task.Status] || "delayed"),
      h("span", { class: "moved" }, `${formatCount(moved)} of ${formatCount(toMove)} moved`),
      task.Status === "RUNNING" && task.TaskHandle
        ? h("button", { type: "button", class: "small-button", onclick: () => cancel(task.TaskHandle) }, "Cancel")
        : null),
    h("progress", { max: Math.max(toMove, 1), value: Math.min(moved, Math.max(toMove, 1)) }),
    h("div", { class: "muted small" }, `Started ${formatTime(task.StartedTimestamp)}, to ${destination}`,
      task.MaxNumberOfMessagesPerSecond ? `, ${task.MaxNumberOfMessagesPerSecond} per second` : ""),
    task.FailureReason ? h("div", { class: "small error-text" }, task.FailureReason) : null,
  );
}

export class RedrivePanel {
  constructor(app, view, sourceUrls) {
    this.app = app;
    this.view = view;
    this.running = false;
    this.rate = h("input", { id: "redrive-rate", type: "number", min: 1, max: 500, placeholder: "no limit" });
    this.status = h("p", { class: "status", id: "redrive-status", hidden: true });
    this.tasks = h("ul", { class: "tasks", id: "move-tasks", hidden: true });
    const sources = sourceUrls.map((url, i) => [i ? ", " : "", h("a", { href: queueHref(url) }, url.split("/").pop())]);
    this.element = h(
      "section",
      { class: "card panel", id: "redrive-panel" },
      h("h2", {}, "Redrive"),
      h("p", { class: "small" }, "Move this dead-letter queue's messages back to their source: ", sources, "."),
      h("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); this.start(); } },
        field("Messages per second", this.rate),
        h("button", { type: "submit", class: "primary", id: "redrive-button" }, "Start redrive")),
      this.status,
      this.tasks,
    );
  }

  async start() {
    const params = { SourceArn: this.view.stats.QueueArn };
    if (this.rate.value) params.MaxNumberOfMessagesPerSecond = Number(this.rate.value);
    try {
      await this.app.api.call("StartMessageMoveTask", params);
      showStatus(this.status, "ok", "Redrive started.");
      this.app.refreshNow();
    } catch (err) {
      showStatus(this.status, "error", ...describeError(err));
    }
  }

  async cancel(taskHandle) {
    try {
      await this.app.api.call("CancelMessageMoveTask", { TaskHandle: taskHandle });
      showStatus(this.status, "ok", "Cancelling the redrive.");
      this.app.refreshNow();
    } catch (err) {
      showStatus(this.status, "error", ...describeError(err));
    }
  }

  async refresh() {
    const { Results = [] } = await this.app.api.call("ListMessageMoveTasks", {
      SourceArn: this.view.stats.QueueArn, MaxResults: 5,
    });
    replaceChildren(this.tasks, Results.map((task) => taskItem(task, (handle) => this.cancel(handle))));
    this.tasks.hidden = Results.length === 0;
    const running = Results.some((task) => task.Status === "RUNNING");
    if (this.running && !running) this.view.peek.peek(); // a task ended: show what is left
    this.running = running;
  }
}
