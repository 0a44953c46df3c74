"""Python SDK for the data registry: build, push, browse and install data packages.

    from registry_client import Package, login, config
    config(default_remote_registry="https://data.example.org")
    login(code="...")                      # the code from the registry's /login page
    p = Package().set_dir("", "./sales").set_meta({"description": "Q3 sales"})
    p.push("acme/sales", message="Add Q3 data")
    Package.install("acme/sales", dest="./sales-copy")
"""

__version__ = "0.1.0"

from .api import (add_access, add_tag, add_version, config, delete_package, list_access, list_packages,  # noqa: E402
                  list_tags, list_versions, log, login, logout, remove_access, remove_tag, search)
from .client import Client  # noqa: E402
from .entries import PackageDir, PackageEntry  # noqa: E402
from .errors import ClientError  # noqa: E402
from .package import Package  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = [
    "Package", "PackageEntry", "PackageDir", "Client", "Settings", "ClientError",
    "config", "login", "logout", "list_packages", "delete_package", "search", "log",
    "list_tags", "add_tag", "remove_tag", "list_versions", "add_version",
    "list_access", "add_access", "remove_access",
]
