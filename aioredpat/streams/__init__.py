"""Streams: ``StreamProducer`` appends typed values to a Redis Stream."""

from ._producer import StreamProducer as StreamProducer

__all__ = ("StreamProducer",)
