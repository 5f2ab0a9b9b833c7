"""Extract from Twilio's OpenAPI file the part this emulator implements, into `openapi_subset.json`.

Twilio's Conversations description (twilio/twilio-oai, MIT licence) is large and lives outside the
package; `/openapi.json` needs only the implemented operations and the schemas they reference, shipped
beside this module. Regenerate after the shared file changes (tests/test_openapi.py fails until then):

    python -m twilio_conversations_emulator.openapi ../shared/spec/twilio_conversations_v1.json

The output is deterministic: sorted keys, indent 1, a final newline.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).with_name("openapi_subset.json")

# The Twilio operations the emulator answers: path -> methods (lower case), read off the app's routes.
Implemented = dict[str, tuple[str, ...]]

SOURCE = "twilio/twilio-oai, spec/json/twilio_conversations_v1.json"
# The licence of the twilio/twilio-oai repository (the file's own `info.license` describes the API).
LICENSE = {"name": "MIT", "url": "https://github.com/twilio/twilio-oai/blob/main/LICENSE"}
COMPONENT_REF = "#/components/"


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` string anywhere under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def _component(spec: dict[str, Any], ref: str) -> tuple[str, str, Any]:
    if not ref.startswith(COMPONENT_REF):
        raise ValueError(f"unsupported $ref {ref!r}: only {COMPONENT_REF}... is handled")
    kind, _, name = ref[len(COMPONENT_REF) :].partition("/")
    try:
        return kind, name, spec["components"][kind][name]
    except KeyError:
        raise ValueError(f"$ref {ref!r} does not resolve in the source file") from None


def extract(spec: dict[str, Any], implemented: Implemented) -> dict[str, Any]:
    """The implemented operations (without Twilio's `servers`), the components they reference
    transitively, and the security schemes they name."""
    paths: dict[str, Any] = {}
    for path, methods in implemented.items():
        item = spec["paths"][path]
        paths[path] = {"description": item["description"]} | {method: item[method] for method in methods}

    components: dict[str, dict[str, Any]] = {}
    pending = list(refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        kind, name, target = _component(spec, ref)
        components.setdefault(kind, {})[name] = target
        pending.extend(refs(target))

    schemes = {
        name
        for path, methods in implemented.items()
        for method in methods
        for requirement in paths[path][method].get("security", [])
        for name in requirement
    }
    for name in sorted(schemes):
        components.setdefault("securitySchemes", {})[name] = spec["components"]["securitySchemes"][name]

    return {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "license": LICENSE,
            "x-source": SOURCE,
        },
        "paths": paths,
        "components": components,
    }


def render(subset: dict[str, Any]) -> str:
    return json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def extract_file(source: Path, implemented: Implemented) -> str:
    """The subset file's text, made from Twilio's file at source."""
    return render(extract(json.loads(source.read_text(encoding="utf-8")), implemented))


def main(implemented: Implemented, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="Twilio's twilio_conversations_v1.json")
    parser.add_argument("--output", type=Path, default=SUBSET_PATH, help=f"default: {SUBSET_PATH}")
    args = parser.parse_args(argv)
    text = extract_file(args.source, implemented)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} characters)")
    return 0
