"""What this distribution's optional extras install, as its installed metadata declares them: the one
place their pins live is pyproject.toml."""

from __future__ import annotations

import re
from importlib import metadata

DISTRIBUTION = "twilio-conversations-emulator"


def install_hint(extra: str, package: str) -> str:
    """`pip install '<requirement>'` for the package `extra` adds (e.g. `mitmproxy>=11.0.2`).

    The package itself, never this distribution with the extra: it is not on PyPI, where a package of that
    name could be anyone's. Without the metadata (a bare source tree), the package's name alone.
    """
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        declared = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        if marker.replace('"', "'").split() == ["extra", "==", f"'{extra}'"]:
            requirement = requirement.strip()
            named = re.match(r"[A-Za-z0-9._-]+", requirement)
            if named is not None and named.group().lower() == package:
                return f"pip install '{requirement}'"
    return f"pip install {package}"
