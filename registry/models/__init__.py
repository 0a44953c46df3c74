"""All models; importing this package registers every table on Base.metadata."""

from .blobs import Blob, ChunkBlob, FragmentChunk, InstanceChunk, MultipartUpload, ReadmeGram
from .events import Event
from .packages import Access, Comment, Instance, InstancePiece, KeywordGram, KeywordSet, Log, Package, Tag, TreePiece, Version
from .throttle import ThrottleCounter
from .users import LoginCode, RefreshToken, User, WebSession

__all__ = ["Access", "Blob", "ChunkBlob", "Comment", "Event", "FragmentChunk", "Instance", "InstanceChunk",
           "InstancePiece", "KeywordGram", "KeywordSet", "Log", "LoginCode", "MultipartUpload", "Package", "ReadmeGram", "RefreshToken", "Tag", "ThrottleCounter",
           "TreePiece", "User", "Version", "WebSession"]
