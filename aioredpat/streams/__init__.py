"""Streams and pub/sub: typed producers, consumer groups run as background tasks, and
supervised subscriptions."""

from ._consumer import BatchStreamConsumer as BatchStreamConsumer
from ._consumer import StreamConsumer as StreamConsumer
from ._message import StreamMessage as StreamMessage
from ._producer import StreamProducer as StreamProducer
from ._pubsub import PubSub as PubSub
from ._pubsub import PubSubGap as PubSubGap
from ._pubsub import PubSubMessage as PubSubMessage
from ._pubsub import Subscription as Subscription

__all__ = (
    "BatchStreamConsumer",
    "PubSub",
    "PubSubGap",
    "PubSubMessage",
    "StreamConsumer",
    "StreamMessage",
    "StreamProducer",
    "Subscription",
)
