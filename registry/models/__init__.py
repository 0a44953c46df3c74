"""All models; importing this package registers every table on Base.metadata."""

from .blobs import Blob, InstanceBlob
from .events import Event
from .packages import Access, Comment, Instance, Log, Package, Tag, Version
from .throttle import ThrottleCounter
from .users import LoginCode, RefreshToken, User, WebSession

__all__ = ["Access", "Blob", "Comment", "Event", "Instance", "InstanceBlob", "Log", "LoginCode", "Package",
           "RefreshToken", "Tag", "ThrottleCounter", "User", "Version", "WebSession"]
