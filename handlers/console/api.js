// A small SQS client: AWS JSON 1.0 over fetch, signed in the browser.
//
// Every call is `POST /` on this origin with `X-Amz-Target: AmazonSQS.<Action>`
// (or `BucketQ.<Action>` for bucketq's own read-only extensions). An error
// answer ({"__type", "message"}) becomes an ApiError carrying the server's code.

import { signRequest } from "./sigv4.js";

const CONTENT_TYPE = "application/x-amz-json-1.0";
const API_PATH = "/";

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }

  /** Refused for its signature or key: signing in again may help. */
  get isAuthError() {
    return this.status === 403 && /Signature|Token|Expired|Authentication/.test(this.code);
  }
}

function errorFrom(status, text) {
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: a proxy's error page, say
  }
  if (data && typeof data === "object" && data.__type) {
    const code = String(data.__type).split("#").pop();
    return new ApiError(code, data.message || data.Message || "", status);
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return new ApiError(`HTTP ${status}`, snippet || "The server answered an error without a body.", status);
}

/**
 * Whether a `BucketQ.*` call failed because the endpoint lacks bucketq's
 * extensions: InvalidAction, or a 5xx / non-JSON answer with no SQS error in it
 * (moto answers an unknown target with HTTP 500 and an HTML page).
 */
function extensionUnsupported(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.code === "InvalidAction" || err.code === "InvalidResponse") return true;
  return err.status >= 500 && err.code === `HTTP ${err.status}`;
}

/** A queue's numbers from GetQueueAttributes, for a server without GetQueueStats. */
function statsFromAttributes(queueUrl, attributes) {
  const stats = {
    QueueUrl: queueUrl,
    QueueName: queueUrl.split("/").pop(),
    QueueArn: attributes.QueueArn,
    FifoQueue: attributes.FifoQueue === "true",
    ApproximateNumberOfMessagesVisible: Number(attributes.ApproximateNumberOfMessages || 0),
    ApproximateNumberOfMessagesNotVisible: Number(attributes.ApproximateNumberOfMessagesNotVisible || 0),
    ApproximateNumberOfMessagesDelayed: Number(attributes.ApproximateNumberOfMessagesDelayed || 0),
  };
  if (attributes.RedrivePolicy) {
    stats.DeadLetterQueueArn = JSON.parse(attributes.RedrivePolicy).deadLetterTargetArn;
  }
  return stats;
}

export class SqsApi {
  /** session: { accessKeyId, secretAccessKey, region } */
  constructor(session) {
    this.session = session;
    this.hasQueueStats = true;
  }

  async call(action, params = {}) {
    const target = action.includes(".") ? action : `AmazonSQS.${action}`;
    const body = JSON.stringify(params);
    const headers = await signRequest(
      { method: "POST", host: location.host, path: API_PATH, headers: { "x-amz-target": target }, body },
      { ...this.session, service: "sqs" },
    );
    headers["content-type"] = CONTENT_TYPE;
    let response;
    try {
      response = await fetch(API_PATH, { method: "POST", headers, body, cache: "no-store", credentials: "omit" });
    } catch (err) {
      throw new ApiError("NetworkError", `Cannot reach bucketq at ${location.origin} (${err.message}).`, 0);
    }
    const text = await response.text();
    if (!response.ok) throw errorFrom(response.status, text);
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError("InvalidResponse", `${action} answered something that is not JSON.`, response.status);
    }
  }

  async listQueues() {
    const urls = [];
    let token;
    do {
      const page = await this.call("ListQueues", { MaxResults: 1000, NextToken: token });
      urls.push(...(page.QueueUrls || []));
      token = page.NextToken;
    } while (token);
    return urls;
  }

  /** BucketQ.GetQueueStats; GetQueueAttributes on a server without it (no oldest age). */
  async queueStats(queueUrl) {
    if (this.hasQueueStats) {
      try {
        return await this.call("BucketQ.GetQueueStats", { QueueUrl: queueUrl });
      } catch (err) {
        if (!extensionUnsupported(err)) throw err;
        this.hasQueueStats = false;
      }
    }
    const { Attributes } = await this.call("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] });
    return statsFromAttributes(queueUrl, Attributes || {});
  }
}
