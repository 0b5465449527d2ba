"""SQS limits, defaults and attribute names: the one place they are written down."""

from __future__ import annotations

from typing import Final

DEFAULT_ACCOUNT_ID: Final = "000000000000"
DEFAULT_REGION: Final = "us-east-1"
#: How far gateways' clocks may disagree with leases staying exclusive: every
#: lease lasts this much longer than its visibility timeout (service/clock.py).
CLOCK_SKEW_TOLERANCE_MS: Final = 500

# ---- queues -----------------------------------------------------------------
MAX_QUEUE_NAME_LENGTH: Final = 80
FIFO_SUFFIX: Final = ".fifo"
MAX_LIST_QUEUES_RESULTS: Final = 1000
MAX_TAGS_PER_QUEUE: Final = 50
MAX_TAG_KEY_LENGTH: Final = 128
MAX_TAG_VALUE_LENGTH: Final = 256
PURGE_INTERVAL_SECONDS: Final = 60

# ---- messages -----------------------------------------------------------------
MAX_MESSAGE_SIZE: Final = 1_048_576  # bytes, body plus message attributes
MIN_MESSAGE_SIZE_SETTING: Final = 1024
MAX_BATCH_ENTRIES: Final = 10
MAX_BATCH_SIZE: Final = 1_048_576  # bytes, all entries of a SendMessageBatch
MAX_BATCH_ENTRY_ID_LENGTH: Final = 80
MAX_MESSAGE_ATTRIBUTES: Final = 10
MAX_ATTRIBUTE_NAME_LENGTH: Final = 256
MAX_ATTRIBUTE_TYPE_LENGTH: Final = 256
MAX_DELAY_SECONDS: Final = 900
MAX_VISIBILITY_TIMEOUT: Final = 43_200  # 12 hours
MAX_WAIT_TIME_SECONDS: Final = 20
MIN_RECEIVE_MESSAGES: Final = 1
MAX_RECEIVE_MESSAGES: Final = 10
#: BucketQ.PeekMessages (a bucketq extension action): how many messages one call shows.
MIN_PEEK_MESSAGES: Final = 1
MAX_PEEK_MESSAGES: Final = 100
DEFAULT_PEEK_MESSAGES: Final = 10
MIN_RETENTION_SECONDS: Final = 60
MAX_RETENTION_SECONDS: Final = 1_209_600  # 14 days
MIN_KMS_REUSE_SECONDS: Final = 60
MAX_KMS_REUSE_SECONDS: Final = 86_400

# ---- queue attributes: (default, minimum, maximum) for the integer ones ---------
INTEGER_ATTRIBUTES: Final[dict[str, tuple[int, int, int]]] = {
    "DelaySeconds": (0, 0, MAX_DELAY_SECONDS),
    "MaximumMessageSize": (MAX_MESSAGE_SIZE, MIN_MESSAGE_SIZE_SETTING, MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": (345_600, MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS),
    "ReceiveMessageWaitTimeSeconds": (0, 0, MAX_WAIT_TIME_SECONDS),
    "VisibilityTimeout": (30, 0, MAX_VISIBILITY_TIMEOUT),
    "KmsDataKeyReusePeriodSeconds": (300, MIN_KMS_REUSE_SECONDS, MAX_KMS_REUSE_SECONDS),
}
BOOLEAN_ATTRIBUTES: Final = frozenset(
    {"SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication"}
)
STRING_ATTRIBUTES: Final = frozenset(
    {
        "Policy",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "DeduplicationScope",
        "FifoThroughputLimit",
    }
)
SETTABLE_ATTRIBUTES: Final = frozenset(INTEGER_ATTRIBUTES) | BOOLEAN_ATTRIBUTES | STRING_ATTRIBUTES
#: Attributes that only FIFO queues accept.
FIFO_ONLY_ATTRIBUTES: Final = frozenset(
    {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)
#: Attributes that can only be given at creation.
CREATE_ONLY_ATTRIBUTES: Final = frozenset({"FifoQueue"})
COMPUTED_ATTRIBUTES: Final = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
READABLE_ATTRIBUTES: Final = frozenset(COMPUTED_ATTRIBUTES) | SETTABLE_ATTRIBUTES

# ---- message system attributes ---------------------------------------------------
MESSAGE_SYSTEM_ATTRIBUTES: Final = frozenset(
    {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
    }
)
#: The only system attribute a sender may set.
SENDABLE_SYSTEM_ATTRIBUTES: Final = frozenset({"AWSTraceHeader"})
RESERVED_ATTRIBUTE_PREFIXES: Final = ("aws.", "amazon.")

# ---- dead-letter queues and permissions ----------------------------------------------
MAX_REDRIVE_RECEIVE_COUNT: Final = 1000  # RedrivePolicy maxReceiveCount, 1 to this
MAX_REDRIVE_SOURCE_ARNS: Final = 10  # RedriveAllowPolicy sourceQueueArns (byQueue)
MAX_LIST_DEAD_LETTER_SOURCES: Final = 1000  # ListDeadLetterSourceQueues MaxResults
MAX_PERMISSION_ACTIONS: Final = 7  # actions of one AddPermission statement
MAX_PERMISSION_LABEL_LENGTH: Final = 80
POLICY_VERSION: Final = "2012-10-17"
