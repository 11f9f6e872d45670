#!/usr/bin/env python3
"""render-compare.py: do two renders of one overlay hold the same objects?

    python3 test/deploy/render-compare.py A.yaml B.yaml

For test/deploy/check.sh: the overlays rendered by kubectl 1.20 (kustomize v2.0.3, Debian 12's
kubernetes-client, what script/bootstrap installs where no kubectl is) and by the pinned kubectl
(kustomize v5) must be the same objects with the same content. The one difference allowed is the
hash suffix of generated ConfigMaps (each kustomize version hashes differently), so names ending
in -<hash> are compared without it, everywhere they appear, and an empty `annotations: {}`
(v2.0.3 writes one on generated ConfigMaps) counts as none. Prints each difference; exit 1 if any.
Needs PyYAML (Debian: python3-yaml).
"""

import re
import sys

import yaml

GENERATED = re.compile(r"^(conduitd-config)-[a-z0-9]{10}$")


def normalise(value):
    """The value with generated ConfigMap names stripped of their hash suffix."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if not (k == "annotations" and v == {})}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return GENERATED.sub(r"\1-HASH", value)
    return value


def load(path):
    with open(path, encoding="utf-8") as f:
        docs = [normalise(d) for d in yaml.safe_load_all(f) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def differences(a, b, path):
    """Lines naming where a and b differ."""
    if type(a) is not type(b):
        return ["%s: %r != %r" % (path, a, b)]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append("%s/%s: only in %s" % (path, k, "the first" if k in a else "the second"))
            else:
                out += differences(a[k], b[k], "%s/%s" % (path, k))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return ["%s: %d items != %d" % (path, len(a), len(b))]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, "%s/%d" % (path, i))]
    return [] if a == b else ["%s: %r != %r" % (path, a, b)]


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    a, b = load(argv[1]), load(argv[2])
    out = ["object only in %s: %s/%s" % (argv[1] if k in a else argv[2], *k)
           for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        out += differences(a[k], b[k], "%s/%s" % k)
    for line in out:
        print(line)
    print("render-compare: %d objects, %d differences" % (len(a), len(out)))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
