"""The Query protocol: form parameters in, XML out.

Requests are ``application/x-www-form-urlencoded`` forms (or a query string) such as
``Action=SendMessage&Version=2012-11-05&QueueUrl=...&MessageAttribute.1.Name=a&
MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x``.
``decode_query`` turns them into the JSON-shaped params of the service layer, driven by
the operation's input shape with the Query names of ``handlers.query_names``;
``encode_query_result`` and ``encode_query_error`` write SQS's XML documents.

Both directions run over plans compiled once at import from the model (one small
object per shape), so a request never walks botocore shapes.

Decisions, matching what SQS does where it is known:

* unknown parameters are ignored (``Version``, ``Signature``, ``AWSAccessKeyId``, typos);
* list and map indexes are 1-based in practice but only their order counts: gaps are
  allowed and ``.10`` sorts after ``.9``; a non-numeric index is an unknown parameter;
* the legacy unindexed forms ``AttributeName=All`` and ``Attribute.Name=...&
  Attribute.Value=...`` are read as a single element;
* when a parameter is repeated, the first occurrence wins;
* a value that cannot be coerced to its member's type (``MaxNumberOfMessages=abc``,
  bad base64) is ``InvalidParameterValue``; a map entry without its key or value is
  ``MissingParameter``; required members are not checked here (the request models do);
* invalid UTF-8 after percent-decoding is ``MalformedQueryString``; more than
  ``MAX_QUERY_PARAMETERS`` pairs, or a form (the query string, say) longer than
  ``MAX_FORM_BYTES``, is ``InvalidParameterValue``, refused before any pair is
  decoded; malformed percent escapes (``%zz``) are kept literally, as most form
  decoders do.

A form is never XML: a body with an XML declaration, a DOCTYPE or entities is split
on ``&`` and ``=`` like any other, so no entity is ever expanded or resolved.

The protocol lives in three modules, re-exported here for every caller:
``handlers.query_form_parsing`` (the form into pairs), ``handlers.query_decoding``
(pairs into params) and ``handlers.query_rendering`` (results and errors into XML).
"""

from __future__ import annotations

from handlers.query_decoding import decode_query
from handlers.query_form_parsing import MAX_FORM_BYTES, MAX_QUERY_PARAMETERS, parse_form
from handlers.query_rendering import (
    QUERY_CONTENT_TYPE,
    encode_query_error,
    encode_query_result,
    xml_text,
)

__all__ = [
    "MAX_FORM_BYTES",
    "MAX_QUERY_PARAMETERS",
    "QUERY_CONTENT_TYPE",
    "decode_query",
    "encode_query_error",
    "encode_query_result",
    "parse_form",
    "xml_text",
]
