// Purge (PurgeQueue), behind a confirmation dialog.

import { describeError, formatCount, h, showStatus } from "./dom.js";

export class PurgePanel {
  constructor(app, view) {
    this.app = app;
    this.view = view;
    this.status = h("p", { class: "status", id: "purge-status", hidden: true });
    this.question = h("p", {});
    this.dialog = h(
      "dialog",
      { id: "purge-dialog", "aria-labelledby": "purge-title" },
      h("h2", { id: "purge-title" }, "Purge queue?"),
      this.question,
      h("div", { class: "actions" },
        h("button", { type: "button", id: "purge-cancel", onclick: () => this.dialog.close() }, "Cancel"),
        h("button", { type: "button", class: "danger", id: "purge-confirm", onclick: () => this.purge() }, "Purge")),
    );
    this.element = h(
      "section",
      { class: "card panel", id: "purge-panel" },
      h("h2", {}, "Purge"),
      h("p", { class: "muted small" }, "Delete every message in this queue, in flight and delayed ones too."),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger-outline", id: "purge-button", onclick: () => this.ask() }, "Purge queue…")),
      this.status,
      this.dialog,
    );
  }

  ask() {
    const stats = this.view.stats || {};
    const count =
      Number(stats.ApproximateNumberOfMessagesVisible || 0) +
      Number(stats.ApproximateNumberOfMessagesNotVisible || 0) +
      Number(stats.ApproximateNumberOfMessagesDelayed || 0);
    this.question.replaceChildren(
      "Delete all ", h("strong", {}, `${formatCount(count)} messages`), " in ",
      h("strong", {}, this.view.name), "? This cannot be undone.",
    );
    this.dialog.showModal();
  }

  async purge() {
    this.dialog.close();
    try {
      await this.app.api.call("PurgeQueue", { QueueUrl: this.view.url });
      showStatus(this.status, "ok", `Purged ${this.view.name}.`);
      this.app.refreshNow();
      this.view.peek.peek();
    } catch (err) {
      showStatus(this.status, "error", ...describeError(err));
    }
  }
}
