// AWS Signature Version 4 in the browser, over Web Crypto (crypto.subtle).
//
// Signs what bucketq's gateway checks (handlers/sigv4.py): the method, the
// path, the query string, the headers `host`, `x-amz-date` and every other
// `x-amz-*` header given (so `x-amz-target`), and the SHA-256 of the body.
// `content-type` is left unsigned, as the AWS SDK for JavaScript does.
// The secret never leaves this module: only the signature is sent.

const encoder = new TextEncoder();
const ALGORITHM = "AWS4-HMAC-SHA256";

/** Web Crypto exists only in secure contexts: HTTPS, or http://localhost. */
export function webCryptoAvailable() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto && globalThis.crypto.subtle);
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const cryptoKey = await crypto.subtle.importKey(
    "raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(text));
}

/** RFC 3986 percent-encoding, as SigV4 wants it. */
function uriEncode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Every service but S3 signs the path encoded twice. */
function canonicalPath(path) {
  return path.split("/").map((segment) => uriEncode(uriEncode(segment))).join("/") || "/";
}

/**
 * Split by hand, not with URLSearchParams: that decodes `+` as a space, while
 * SigV4 (and handlers/sigv4.py) keep a literal `+`, which encodes as %2B.
 * Empty parts (`a&&b`) stay, as empty names, like the server's split.
 */
function canonicalQuery(query) {
  const text = query.replace(/^\?/, "");
  return (text ? text.split("&") : [])
    .map((part) => {
      const at = part.indexOf("=");
      const [name, value] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
      return [uriEncode(decodeURIComponent(name)), uriEncode(decodeURIComponent(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** 20240102T030405Z */
export function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * The headers to send: `headers` plus `x-amz-date` and `authorization`.
 *
 * request: { method, host, path, query, headers, body }
 * key: { accessKeyId, secretAccessKey, region, service }
 */
export async function signRequest(request, key, now = new Date()) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const scope = `${day}/${key.region}/${key.service}/aws4_request`;
  const headers = { ...request.headers, "x-amz-date": date };
  const toSign = { host: request.host };
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase().startsWith("x-amz-")) toSign[name.toLowerCase()] = value;
  }
  const names = Object.keys(toSign).sort();
  const canonicalHeaders = names
    .map((name) => `${name}:${String(toSign[name]).trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(request.path),
    canonicalQuery(request.query || ""),
    canonicalHeaders,
    signedHeaders,
    await sha256Hex(request.body || ""),
  ].join("\n");
  const stringToSign = [ALGORITHM, date, scope, await sha256Hex(canonicalRequest)].join("\n");

  let signingKey = encoder.encode(`AWS4${key.secretAccessKey}`);
  for (const part of [day, key.region, key.service, "aws4_request"]) {
    signingKey = await hmac(signingKey, part);
  }
  const signature = hex(await hmac(signingKey, stringToSign));
  headers.authorization =
    `${ALGORITHM} Credential=${key.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
