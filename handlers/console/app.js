// The console: sign-in, routing (#/ and #/queues/ACCOUNT/NAME) and live refresh.
//
// The page refreshes its view every 2 seconds while the tab is visible, and
// not at all while it is hidden. The access key is kept in this tab's
// sessionStorage (gone when the tab closes) and only ever used to sign.

import { ApiError, SqsApi } from "./api.js";
import { describeError, field, h, replaceChildren, showStatus } from "./dom.js";
import { QueueView } from "./queue_view.js";
import { QueuesView } from "./queues_view.js";
import { webCryptoAvailable } from "./sigv4.js";

const SESSION_KEY = "bucketq.console.session";
const REFRESH_MS = 2000;
const DEFAULT_SESSION = { accessKeyId: "bucketq", secretAccessKey: "bucketq", region: "us-east-1" };

const $ = (id) => document.getElementById(id);

function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return session && session.accessKeyId && session.secretAccessKey && session.region ? session : null;
  } catch {
    return null;
  }
}

class Console {
  constructor() {
    const session = storedSession();
    this.api = session ? new SqsApi(session) : null;
    this.view = null;
    this.timer = null;
    this.busy = new WeakSet(); // views whose refresh is under way
    this.again = new WeakSet(); // views to refresh again when it ends
    this.updatedAt = null;
  }

  start() {
    window.addEventListener("hashchange", () => this.route());
    document.addEventListener("visibilitychange", () => this.onVisibilityChange());
    $("sign-out").addEventListener("click", () => this.signOut());
    setInterval(() => this.showRefreshStatus(), 1000);
    this.route();
  }

  route() {
    clearTimeout(this.timer);
    this.hideBanner();
    this.updatedAt = null;
    if (!this.api) {
      this.view = null;
      this.showSignIn();
      return;
    }
    const match = location.hash.match(/^#\/queues\/([^/]+)\/([^/]+)$/);
    this.view = match
      ? new QueueView(this, decodeURIComponent(match[1]), decodeURIComponent(match[2]))
      : new QueuesView(this);
    replaceChildren($("main"), this.view.element);
    replaceChildren($("crumbs"), match
      ? [h("a", { href: "#/" }, "Queues"), h("span", { class: "sep" }, "/"), h("span", {}, this.view.title)]
      : h("span", {}, "Queues"));
    document.title = `${this.view.title} · bucketq console`;
    $("signed-in-as").textContent = this.api.session.accessKeyId;
    $("sign-out").hidden = false;
    this.refreshNow();
  }

  /** Refresh the current view now; if its refresh is under way, once more after it. */
  async refreshNow() {
    clearTimeout(this.timer);
    const view = this.view;
    if (!view || document.hidden) return;
    if (this.busy.has(view)) {
      this.again.add(view);
      return;
    }
    this.busy.add(view);
    try {
      await view.refresh();
      if (view === this.view) {
        this.updatedAt = Date.now();
        this.hideBanner();
      }
    } catch (err) {
      if (view === this.view) this.showError(err);
    } finally {
      this.busy.delete(view);
    }
    if (view !== this.view) return; // the page changed meanwhile: its own refresh runs
    this.showRefreshStatus();
    if (this.again.delete(view)) this.refreshNow();
    else if (!document.hidden) this.timer = setTimeout(() => this.refreshNow(), REFRESH_MS);
  }

  onVisibilityChange() {
    if (document.hidden) clearTimeout(this.timer);
    else this.refreshNow();
    this.showRefreshStatus();
  }

  showRefreshStatus() {
    const status = $("refresh-status");
    if (!this.view) status.textContent = "";
    else if (document.hidden) status.textContent = "paused while the tab is hidden";
    else if (this.updatedAt === null) status.textContent = "loading…";
    else status.textContent = `updated ${Math.round((Date.now() - this.updatedAt) / 1000)}s ago`;
    status.classList.toggle("stale", this.updatedAt !== null && Date.now() - this.updatedAt > 3 * REFRESH_MS);
  }

  showError(err) {
    const banner = $("banner");
    const again = err instanceof ApiError && err.isAuthError
      ? h("button", { type: "button", class: "link", onclick: () => this.signOut() }, "Sign in again")
      : null;
    replaceChildren(banner, h("span", {}, ...describeError(err)), again);
    banner.hidden = false;
  }

  hideBanner() {
    $("banner").hidden = true;
  }

  signOut() {
    sessionStorage.removeItem(SESSION_KEY);
    this.api = null;
    this.route();
  }

  showSignIn() {
    const initial = { ...DEFAULT_SESSION, ...(storedSession() || {}) };
    const keyId = h("input", { id: "access-key-id", required: true, autocomplete: "username", value: initial.accessKeyId });
    const secret = h("input", { id: "secret-access-key", type: "password", required: true, autocomplete: "current-password", value: initial.secretAccessKey });
    const region = h("input", { id: "region", required: true, value: initial.region });
    const status = h("p", { class: "status", id: "sign-in-status", hidden: true });
    const button = h("button", { type: "submit", class: "primary", id: "sign-in-button" }, "Sign in");
    const crypto = webCryptoAvailable();
    const form = h(
      "form",
      { id: "sign-in", onsubmit: (event) => { event.preventDefault(); signIn(); } },
      field("Access key ID", keyId),
      field("Secret access key", secret),
      field("Region", region, "The region bucketq serve runs in (--region)."),
      h("div", { class: "actions" }, button),
      status,
    );
    const signIn = async () => {
      const session = { accessKeyId: keyId.value.trim(), secretAccessKey: secret.value, region: region.value.trim() };
      const api = new SqsApi(session);
      button.disabled = true;
      try {
        await api.call("ListQueues", { MaxResults: 1 });
        sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
        this.api = api;
        this.route();
      } catch (err) {
        showStatus(status, "error", ...describeError(err));
      } finally {
        button.disabled = false;
      }
    };
    if (!crypto) {
      button.disabled = true;
      showStatus(status, "error",
        "This browser offers no Web Crypto here (crypto.subtle), so the console cannot sign requests. " +
        "Browsers provide it only on HTTPS and on http://localhost or 127.0.0.1: open the console there " +
        "(for a remote server, through an SSH tunnel: ssh -L 9324:127.0.0.1:9324 HOST).");
    }
    replaceChildren($("main"), h(
      "section",
      { class: "card signin" },
      h("h1", {}, "Sign in"),
      h("p", { class: "muted small" },
        "The console signs its requests in this browser (AWS Signature Version 4) with the key you enter; " +
        "the secret stays in this tab's session storage and is never sent. A server started without " +
        "--credentials accepts any key."),
      form,
    ));
    replaceChildren($("crumbs"));
    $("signed-in-as").textContent = "";
    $("sign-out").hidden = true;
    document.title = "Sign in · bucketq console";
    this.showRefreshStatus();
  }
}

new Console().start();
