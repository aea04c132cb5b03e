#!/usr/bin/env python3
"""Every value in values.yaml is typed and described in values.schema.json (which is what
`helm install` checks and what editors show), so no value is undocumented.

Usage: documented.py <chart dir>
"""

import json
import sys
from pathlib import Path

import yaml


def leaves(values, path=""):
    """Paths of values.yaml's settings: maps are descended, except free-form ones ({} or maps
    the schema types as a plain object)."""
    for key, value in values.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, dict) and value:
            yield here
            yield from leaves(value, here)
        else:
            yield here


def schema_node(schema, path):
    node = schema
    for key in path.split("."):
        properties = node.get("properties")
        if properties is None:
            return "free"  # inside a free-form map (resources, labels, ...)
        if key not in properties:
            return None
        node = properties[key]
    return node


def main():
    chart = Path(sys.argv[1])
    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = json.loads((chart / "values.schema.json").read_text())
    problems = []
    for path in leaves(values):
        node = schema_node(schema, path)
        if node is None:
            problems.append(f"{path}: in values.yaml but not in values.schema.json")
        elif node != "free" and "properties" not in node and not node.get("description"):
            problems.append(f"{path}: no description in values.schema.json")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"every value of {chart / 'values.yaml'} is typed and described")


if __name__ == "__main__":
    main()
