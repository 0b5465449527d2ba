"""From a decoded API call to a service method: one small function per action."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers import requests as rq
from handlers.extension_model import GET_QUEUE_STATS, PEEK_MESSAGES
from handlers.http_edge import ApiCall
from service import crash_points
from service.constants import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from service.context import RequestContext
from service.errors import InvalidAction, from_storage_error
from service.sqs_service import QueueService
from storage.ports import StorageError

log = logging.getLogger(__name__)

Result = dict[str, Any]
Params = dict[str, Any]
Action = Callable[[QueueService, RequestContext, Params], Awaitable[Result]]


@dataclass(frozen=True)
class Identity:
    """The account this gateway serves when requests are not authenticated
    (an authenticated request acts for its signer's account)."""

    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION


async def _create_queue(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.CreateQueueRequest, p)
    return await svc.create_queue(ctx, r.QueueName, dict(r.Attributes), dict(r.tags))


async def _get_queue_url(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.GetQueueUrlRequest, p)
    return await svc.get_queue_url(ctx, r.QueueName, r.QueueOwnerAWSAccountId)


async def _list_queues(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.ListQueuesRequest, p)
    return await svc.list_queues(ctx, r.QueueNamePrefix, r.MaxResults, r.NextToken)


async def _delete_queue(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.QueueUrlRequest, p)
    return await svc.delete_queue(ctx, r.QueueUrl)


async def _get_queue_attributes(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.GetQueueAttributesRequest, p)
    return await svc.get_queue_attributes(ctx, r.QueueUrl, r.AttributeNames)


async def _set_queue_attributes(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.SetQueueAttributesRequest, p)
    return await svc.set_queue_attributes(ctx, r.QueueUrl, dict(r.Attributes))


async def _purge_queue(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.QueueUrlRequest, p)
    return await svc.purge_queue(ctx, r.QueueUrl)


async def _tag_queue(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.TagQueueRequest, p)
    return await svc.tag_queue(ctx, r.QueueUrl, dict(r.Tags))


async def _untag_queue(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.UntagQueueRequest, p)
    return await svc.untag_queue(ctx, r.QueueUrl, r.TagKeys)


async def _list_queue_tags(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.QueueUrlRequest, p)
    return await svc.list_queue_tags(ctx, r.QueueUrl)


async def _send_message(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.SendMessageRequest, p)
    return await svc.send_message(ctx, r.QueueUrl, r.to_entry())


async def _send_message_batch(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.SendMessageBatchRequest, p)
    entries = [e.to_entry(e.Id) for e in r.Entries]
    return await svc.send_message_batch(ctx, r.QueueUrl, entries)


async def _receive_message(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.ReceiveMessageRequest, p)
    return await svc.receive_message(
        ctx,
        r.QueueUrl,
        max_messages=r.MaxNumberOfMessages,
        visibility_timeout=r.VisibilityTimeout,
        wait_seconds=r.WaitTimeSeconds,
        system_attribute_names=r.system_attribute_names,
        message_attribute_names=r.MessageAttributeNames,
        attempt_id=r.ReceiveRequestAttemptId,
    )


async def _delete_message(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.DeleteMessageRequest, p)
    return await svc.delete_message(ctx, r.QueueUrl, r.ReceiptHandle)


async def _delete_message_batch(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.DeleteMessageBatchRequest, p)
    entries = [(e.Id, e.ReceiptHandle) for e in r.Entries]
    return await svc.delete_message_batch(ctx, r.QueueUrl, entries)


async def _change_visibility(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.ChangeMessageVisibilityRequest, p)
    return await svc.change_message_visibility(
        ctx, r.QueueUrl, r.ReceiptHandle, r.VisibilityTimeout
    )


async def _change_visibility_batch(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.ChangeMessageVisibilityBatchRequest, p)
    entries = [(e.Id, e.ReceiptHandle, e.VisibilityTimeout) for e in r.Entries]
    return await svc.change_message_visibility_batch(ctx, r.QueueUrl, entries)


async def _list_dead_letter_source_queues(
    svc: QueueService, ctx: RequestContext, p: Params
) -> Result:
    r = rq.parse_request(rq.ListDeadLetterSourceQueuesRequest, p)
    return await svc.list_dead_letter_source_queues(ctx, r.QueueUrl, r.MaxResults, r.NextToken)


async def _add_permission(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.AddPermissionRequest, p)
    return await svc.add_permission(ctx, r.QueueUrl, r.Label, r.AWSAccountIds, r.Actions)


async def _remove_permission(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.RemovePermissionRequest, p)
    return await svc.remove_permission(ctx, r.QueueUrl, r.Label)


async def _start_move_task(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.StartMessageMoveTaskRequest, p)
    return await svc.start_message_move_task(
        ctx, r.SourceArn, r.DestinationArn, r.MaxNumberOfMessagesPerSecond
    )


async def _list_move_tasks(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.ListMessageMoveTasksRequest, p)
    return await svc.list_message_move_tasks(ctx, r.SourceArn, r.MaxResults)


async def _cancel_move_task(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.CancelMessageMoveTaskRequest, p)
    return await svc.cancel_message_move_task(ctx, r.TaskHandle)


async def _peek_messages(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.PeekMessagesRequest, p)
    return await svc.extensions.peek_messages(ctx, r.QueueUrl, r.MaxNumberOfMessages)


async def _get_queue_stats(svc: QueueService, ctx: RequestContext, p: Params) -> Result:
    r = rq.parse_request(rq.QueueUrlRequest, p)
    return await svc.extensions.get_queue_stats(ctx, r.QueueUrl)


ACTIONS: dict[str, Action] = {
    "CreateQueue": _create_queue,
    "GetQueueUrl": _get_queue_url,
    "ListQueues": _list_queues,
    "DeleteQueue": _delete_queue,
    "GetQueueAttributes": _get_queue_attributes,
    "SetQueueAttributes": _set_queue_attributes,
    "PurgeQueue": _purge_queue,
    "TagQueue": _tag_queue,
    "UntagQueue": _untag_queue,
    "ListQueueTags": _list_queue_tags,
    "SendMessage": _send_message,
    "SendMessageBatch": _send_message_batch,
    "ReceiveMessage": _receive_message,
    "DeleteMessage": _delete_message,
    "DeleteMessageBatch": _delete_message_batch,
    "ChangeMessageVisibility": _change_visibility,
    "ChangeMessageVisibilityBatch": _change_visibility_batch,
    "ListDeadLetterSourceQueues": _list_dead_letter_source_queues,
    "AddPermission": _add_permission,
    "RemovePermission": _remove_permission,
    "StartMessageMoveTask": _start_move_task,
    "ListMessageMoveTasks": _list_move_tasks,
    "CancelMessageMoveTask": _cancel_move_task,
    # bucketq's own actions (JSON protocol only), named by their whole target
    PEEK_MESSAGES: _peek_messages,
    GET_QUEUE_STATS: _get_queue_stats,
}


class Dispatcher:
    """Routes decoded calls to the service; the ``Dispatcher`` of http_edge."""

    def __init__(self, service: QueueService, identity: Identity | None = None) -> None:
        self.service = service
        self.identity = identity or Identity()

    def context(self, call: ApiCall) -> RequestContext:
        account_id = call.account_id or self.identity.account_id
        return RequestContext(
            account_id=account_id,
            region=self.identity.region,
            base_url=call.base_url,
            sender_id=account_id,
            trace_header=call.trace_header,
            action=call.action,
            authenticated=call.account_id is not None,
        )

    async def __call__(self, call: ApiCall) -> Result:
        action = ACTIONS.get(call.action)
        if action is None:
            raise InvalidAction(f"The action {call.action} is not valid for this endpoint.")
        try:
            with crash_points.acting(call.action):  # names this action's crash points
                result = await action(self.service, self.context(call), call.params)
                crash_points.reach_in_action(crash_points.BEFORE_RESPONSE)
            return result
        except StorageError as exc:
            log.warning("storage failed under %s: %r", call.action, exc)
            raise from_storage_error(exc) from exc
