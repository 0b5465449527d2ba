// The standard flow through the AWS SDK for JavaScript v2 speaking the Query
// protocol (form-encoded requests, XML responses) to bucketq.
//
// aws-sdk 2.1490.0 is the last v2 release whose SQS model
// (apis/sqs-2012-11-05.min.json) has "protocol": "query"; 2.1491.0 moved SQS to
// JSON. Its SQS customisation (lib/services/sqs.js, setupRequestListeners) adds
// extractData listeners verifySendMessageChecksum, verifySendMessageBatchChecksum
// and verifyReceiveMessageChecksum whenever config.computeChecksums is set, and
// lib/config.js defaults computeChecksums to true: a wrong MD5OfMessageBody
// (send, batch send) or MD5OfBody (receive) fails the call with InvalidChecksum.
// Those listeners do not look at MD5OfMessageAttributes, so this script checks
// that digest itself (sqsAttributesMd5 below, SQS's documented algorithm).
//
// Usage: node flow.cjs ENDPOINT_URL QUEUE_NAME ; prints a JSON summary.
"use strict";

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = "1";
const crypto = require("crypto");
const AWS = require("aws-sdk");

const [endpoint, queueName] = process.argv.slice(2);
const sqs = new AWS.SQS({
  endpoint,
  region: "us-east-1",
  accessKeyId: "AKIDJSV2TEST",
  secretAccessKey: "secret",
  maxRetries: 1,
});

const attributes = {
  color: { DataType: "String", StringValue: "grün ✓ <&>" },
  size: { DataType: "Number", StringValue: "7.5" },
  raw: { DataType: "Binary", BinaryValue: Buffer.from([0, 1, 2, 255]) },
};

// MD5 of message attributes as SQS computes it: for each attribute in name
// order, length-prefixed (4 bytes, big endian) name and data type, a transport
// byte (1 string, 2 binary) and the length-prefixed value.
function sqsAttributesMd5(attrs) {
  const parts = [];
  const prefixed = (buf) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    parts.push(len, buf);
  };
  for (const name of Object.keys(attrs).sort()) {
    const value = attrs[name];
    prefixed(Buffer.from(name, "utf8"));
    prefixed(Buffer.from(value.DataType, "utf8"));
    if (value.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      prefixed(Buffer.from(value.BinaryValue));
    } else {
      parts.push(Buffer.from([1]));
      prefixed(Buffer.from(value.StringValue, "utf8"));
    }
  }
  return crypto.createHash("md5").update(Buffer.concat(parts)).digest("hex");
}

async function main() {
  const protocol = sqs.api.protocol;
  const { QueueUrl } = await sqs.createQueue({ QueueName: queueName }).promise();
  const sent = await sqs
    .sendMessageBatch({
      QueueUrl,
      Entries: Array.from({ length: 10 }, (_, i) => ({
        Id: `e${i}`,
        MessageBody: `js v2 body ${i} – ünïcode 日本 😀 & <xml>`,
        MessageAttributes: attributes,
      })),
    })
    .promise();
  const expectedAttrMd5 = sqsAttributesMd5(attributes);
  const received = [];
  for (let attempt = 0; attempt < 20 && received.length < 10; attempt++) {
    const out = await sqs
      .receiveMessage({
        QueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ["All"],
        AttributeNames: ["All"],
      })
      .promise();
    received.push(...(out.Messages || []));
  }
  await sqs
    .changeMessageVisibility({
      QueueUrl,
      ReceiptHandle: received[0].ReceiptHandle,
      VisibilityTimeout: 60,
    })
    .promise();
  const deleted = await sqs
    .deleteMessageBatch({
      QueueUrl,
      Entries: received.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
    })
    .promise();
  const attrs = await sqs.getQueueAttributes({ QueueUrl, AttributeNames: ["All"] }).promise();
  await sqs.deleteQueue({ QueueUrl }).promise();
  let missing = null;
  let missingStatus = null;
  try {
    await sqs.getQueueUrl({ QueueName: queueName }).promise();
  } catch (err) {
    missing = err.code;
    missingStatus = err.statusCode;
  }
  const first = received[0];
  console.log(
    JSON.stringify({
      protocol,
      computeChecksums: sqs.config.computeChecksums,
      queueUrl: QueueUrl,
      sent: sent.Successful.length,
      sendFailed: sent.Failed.length,
      sendAttributesMd5Ok: sent.Successful.every((e) => e.MD5OfMessageAttributes === expectedAttrMd5),
      received: received.length,
      distinctIds: new Set(received.map((m) => m.MessageId)).size,
      receiveAttributesMd5Ok: received.every(
        (m) => m.MD5OfMessageAttributes === sqsAttributesMd5(m.MessageAttributes),
      ),
      receivedAttributesMd5MatchesSent: received.every(
        (m) => m.MD5OfMessageAttributes === expectedAttrMd5,
      ),
      bodies: received.map((m) => m.Body).sort(),
      binary: Array.from(first.MessageAttributes.raw.BinaryValue),
      string: first.MessageAttributes.color.StringValue,
      number: first.MessageAttributes.size.StringValue,
      dataTypes: Object.keys(first.MessageAttributes)
        .sort()
        .map((k) => first.MessageAttributes[k].DataType),
      receiveCount: first.Attributes.ApproximateReceiveCount,
      systemAttributes: Object.keys(first.Attributes).sort(),
      deleted: deleted.Successful.length,
      deleteFailed: deleted.Failed.length,
      visible: attrs.Attributes.ApproximateNumberOfMessages,
      notVisible: attrs.Attributes.ApproximateNumberOfMessagesNotVisible,
      queueArn: attrs.Attributes.QueueArn,
      missingError: missing,
      missingStatus,
    }),
  );
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err, err && err.code);
  process.exit(1);
});
