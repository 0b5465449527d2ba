// The standard flow through the AWS SDK for JavaScript v3, whose SQS client
// checks MD5OfMessageBody on SendMessage and SendMessageBatch and MD5OfBody on
// ReceiveMessage (its default; it throws on a mismatch).
// Usage: node flow.mjs ENDPOINT_URL QUEUE_NAME ; prints a JSON summary.
import {
  SQSClient,
  CreateQueueCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
} from "@aws-sdk/client-sqs";

const [endpoint, queueName] = process.argv.slice(2);
const sqs = new SQSClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDJSTEST", secretAccessKey: "secret" },
});

const attributes = {
  color: { DataType: "String", StringValue: "green ✓" },
  size: { DataType: "Number", StringValue: "7" },
  raw: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 2, 255]) },
};

const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
const sent = await sqs.send(
  new SendMessageBatchCommand({
    QueueUrl,
    Entries: Array.from({ length: 10 }, (_, i) => ({
      Id: `e${i}`,
      MessageBody: `js body ${i} – ünïcode`,
      MessageAttributes: attributes,
    })),
  }),
);
const received = [];
for (let attempt = 0; attempt < 20 && received.length < 10; attempt++) {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["All"],
    }),
  );
  received.push(...(out.Messages ?? []));
}
await sqs.send(
  new ChangeMessageVisibilityCommand({
    QueueUrl,
    ReceiptHandle: received[0].ReceiptHandle,
    VisibilityTimeout: 60,
  }),
);
const deleted = await sqs.send(
  new DeleteMessageBatchCommand({
    QueueUrl,
    Entries: received.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
  }),
);
const attrs = await sqs.send(
  new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }),
);
await sqs.send(new DeleteQueueCommand({ QueueUrl }));
let missing = null;
try {
  await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
} catch (err) {
  missing = err.name;
}
console.log(
  JSON.stringify({
    sent: sent.Successful.length,
    received: received.length,
    bodies: received.map((m) => m.Body).sort(),
    binary: Array.from(received[0].MessageAttributes.raw.BinaryValue),
    deleted: deleted.Successful.length,
    visible: attrs.Attributes.ApproximateNumberOfMessages,
    missingError: missing,
  }),
);
