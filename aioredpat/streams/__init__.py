"""Streams: typed producers and consumer groups run as background tasks."""

from ._consumer import BatchStreamConsumer as BatchStreamConsumer
from ._consumer import StreamConsumer as StreamConsumer
from ._message import StreamMessage as StreamMessage
from ._producer import StreamProducer as StreamProducer

__all__ = ("BatchStreamConsumer", "StreamConsumer", "StreamMessage", "StreamProducer")
