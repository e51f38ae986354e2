"""The shared cache, tolerant of Redis being down: an unreachable Redis is a miss, not an error.

Django's RedisCache raises on every call while Redis is unreachable, and every
page reads the cache (the site profile, the page cache). This one logs the
first failure of an outage (`portfolio.faults`), answers as an empty cache
would, and leaves Redis alone for a few seconds before trying it again, so a
dead Redis costs pages nothing but their cache hits.
"""

import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from portfolio.faults import Outage

# After a failure, calls skip Redis this long: a page makes several, and each
# would otherwise wait for a refused or timed-out connection.
RETRY_SECONDS = 5


class RedisOutage(Outage):
    def __init__(self):
        super().__init__("cache (Redis)")
        self.retry_at = 0.0

    def failed(self, error):
        super().failed(error)
        self.retry_at = time.monotonic() + RETRY_SECONDS

    def skipping(self):
        return self.down and time.monotonic() < self.retry_at


# One per process: Django makes a cache object per thread, an outage is the process's.
outage = RedisOutage()


class ResilientRedisCache(RedisCache):
    """RedisCache whose calls, while Redis is unreachable, behave as on an empty cache."""

    def _call(self, method, on_failure, *args):
        """`method(*args)`, or `on_failure` (what an empty cache answers) while Redis is down."""
        if not outage.skipping():
            try:
                result = method(*args)
            except redis.RedisError as error:
                outage.failed(error)
            else:
                outage.recovered()
                return result
        return on_failure

    def get(self, key, default=None, version=None):
        return self._call(super().get, default, key, default, version)

    def get_many(self, keys, version=None):
        return self._call(super().get_many, {}, keys, version)

    def has_key(self, key, version=None):
        return self._call(super().has_key, False, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().add, False, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set, None, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # Django's contract: the keys that were not stored.
        return self._call(super().set_many, list(data), data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().touch, False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call(super().delete, False, key, version)

    def delete_many(self, keys, version=None):
        return self._call(super().delete_many, None, keys, version)

    def clear(self):
        return self._call(super().clear, False)

    def incr(self, key, delta=1, version=None):
        missing = object()
        result = self._call(super().incr, missing, key, delta, version)
        if result is missing:
            # As for a key that is not there.
            raise ValueError(f"Key '{key}' not found.")
        return result

    def check(self):
        """Raise unless Redis answers now: for /readyz, which must see the outage, not a miss."""
        try:
            self._cache.get_client(write=True).ping()
        except redis.RedisError as error:
            outage.failed(error)
            raise
        outage.recovered()
