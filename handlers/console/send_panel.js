// Send a message (SendMessage), with the fields its queue type needs.

import { describeError, field, h, showStatus } from "./dom.js";

/** "name=value" lines as String message attributes. */
function parseAttributes(text) {
  const attributes = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Attribute line "${line.trim()}" is not name=value.`);
    attributes[line.slice(0, at).trim()] = { DataType: "String", StringValue: line.slice(at + 1).trim() };
  }
  return attributes;
}

export class SendPanel {
  constructor(app, view, fifo) {
    this.app = app;
    this.view = view;
    this.fifo = fifo;
    this.bodyInput = h("textarea", { id: "send-body", rows: 4, required: true, placeholder: '{"order": 1}' });
    this.attributesInput = h("textarea", { id: "send-attributes", rows: 2, placeholder: "kind=new" });
    this.groupInput = h("input", { id: "send-group", required: true, value: "default" });
    this.dedupInput = h("input", { id: "send-dedup" });
    this.delayInput = h("input", { id: "send-delay", type: "number", min: 0, max: 900, value: 0 });
    this.status = h("p", { class: "status", id: "send-status", hidden: true });
    this.button = h("button", { type: "submit", class: "primary", id: "send-button" }, "Send message");
    const queueFields = fifo
      ? [
        field("Message group ID", this.groupInput),
        field("Deduplication ID", this.dedupInput, "Optional with content-based deduplication."),
      ]
      : [field("Delay (seconds)", this.delayInput)];
    this.element = h(
      "section",
      { class: "card panel", id: "send-panel" },
      h("h2", {}, "Send a message"),
      h("form", { id: "send-form", onsubmit: (event) => { event.preventDefault(); this.send(); } },
        field("Body", this.bodyInput),
        h("div", { class: "row" }, queueFields),
        field("Message attributes", this.attributesInput, "One String attribute per line: name=value."),
        h("div", { class: "actions" }, this.button),
        this.status),
    );
  }

  async send() {
    const params = { QueueUrl: this.view.url, MessageBody: this.bodyInput.value };
    this.button.disabled = true;
    try {
      const attributes = parseAttributes(this.attributesInput.value);
      if (Object.keys(attributes).length) params.MessageAttributes = attributes;
      if (this.fifo) {
        params.MessageGroupId = this.groupInput.value;
        if (this.dedupInput.value) params.MessageDeduplicationId = this.dedupInput.value;
      } else if (Number(this.delayInput.value) > 0) {
        params.DelaySeconds = Number(this.delayInput.value);
      }
      const result = await this.app.api.call("SendMessage", params);
      showStatus(this.status, "ok", `Sent message ${result.MessageId}.`);
      this.bodyInput.value = "";
      this.app.refreshNow();
      this.view.peek.peek();
    } catch (err) {
      showStatus(this.status, "error", ...describeError(err));
    } finally {
      this.button.disabled = false;
    }
  }
}
