"""Package indexes: the ``Index`` interface the resolver reads, and its implementations.

``SimpleIndex`` (PEP 503/691 over http(s) and file://), ``FindLinks`` (a directory or a page of
links), ``IndexGroup`` (several as one, with an explicit strategy) and ``MemoryIndex`` (tests).
Only ``HttpClient`` touches the network; caches live under a root directory the caller picks.
"""

from mlenv.index.caches import HttpCache, MetadataCache
from mlenv.index.group import IndexGroup, Strategy
from mlenv.index.http import HttpClient, HttpError, OfflineError
from mlenv.index.memory import MemoryIndex
from mlenv.index.model import (
    CoreMetadata,
    Index,
    IndexFile,
    IndexPageError,
    MetadataError,
    NoWheelError,
    PackageIndexError,
)
from mlenv.index.pages import ACCEPT, parse_page
from mlenv.index.remote import FindLinks, SimpleIndex
from mlenv.index.urls import strip_credentials

__all__ = [
    "ACCEPT",
    "CoreMetadata",
    "FindLinks",
    "HttpCache",
    "HttpClient",
    "HttpError",
    "Index",
    "IndexFile",
    "IndexGroup",
    "IndexPageError",
    "MemoryIndex",
    "MetadataCache",
    "MetadataError",
    "NoWheelError",
    "OfflineError",
    "PackageIndexError",
    "SimpleIndex",
    "Strategy",
    "parse_page",
    "strip_credentials",
]
