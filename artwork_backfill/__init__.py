"""artwork-backfill: fill WXYC's library.artwork_url from LML, safely."""

__version__ = "0.1.0"
