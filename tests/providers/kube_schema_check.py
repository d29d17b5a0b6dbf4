#!/usr/bin/python3
"""Strict offline check of Kubernetes objects against the API's schema.

Run it with Debian's /usr/bin/python3: it needs the Debian packages python3-kubernetes (the
22.6 client, Kubernetes 1.22 models) and python3-yaml (scripts/setup.sh installs both). A
`python3` found first in PATH (pyenv, a venv) usually lacks them.

  /usr/bin/python3 kube_schema_check.py [FILE|-]...   (no FILE: stdin)

Each input is a multi-document YAML stream (`kubectl kustomize DIR` output). Every object is
matched to its model by apiVersion and kind and walked with the model's `attribute_map` (JSON
name -> attribute) and `openapi_types` (attribute -> type): an unknown field, a value of the
wrong type, a missing required field or an unknown apiVersion/kind is a finding, reported with
its path. Exit status: 0 clean, 1 findings (all of them, on stderr), 2 usage or read error.
"""
import datetime
import re
import sys

try:
    import yaml
    import kubernetes.client as k8s
except ImportError as e:
    print(f"kube_schema_check: {e}: install the Debian packages python3-kubernetes and "
          f"python3-yaml (scripts/setup.sh) and run this with /usr/bin/python3", file=sys.stderr)
    sys.exit(2)

# Fields typed 'object' in the models that are IntOrString in the API.
INT_OR_STRING = {"port", "target_port", "max_surge", "max_unavailable", "min_available"}

# Fields holding resource quantities (typed str or dict(str, str) in the models): the API also
# takes a bare number (`cpu: 1`), and a string must parse as a quantity.
QUANTITIES = {
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1EmptyDirVolumeSource", "size_limit"), ("V1ResourceFieldSelector", "divisor"),
    ("V1PersistentVolumeSpec", "capacity"), ("V1PersistentVolumeClaimStatus", "capacity"),
    ("V1PodSpec", "overhead"), ("V1Overhead", "pod_fixed"), ("V1ResourceQuotaSpec", "hard"),
    ("V1LimitRangeItem", "default"), ("V1LimitRangeItem", "default_request"),
    ("V1LimitRangeItem", "max"), ("V1LimitRangeItem", "min"),
}
QUANTITY_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE]|[un])?$")

# Fields the API has that the 1.22 models predate: (model, JSON name) -> version that added it.
# None used yet; add one here with the version rather than dropping the field from a manifest.
NEWER_FIELDS = {}


def model_for(api_version, kind):
    """The model class name for apiVersion+kind, or None when the client knows no such object."""
    group, _, version = api_version.rpartition("/")
    group = group.removesuffix(".k8s.io") or "core"
    api_name = "".join(w.capitalize() for w in group.split(".")) + version.capitalize() + "Api"
    api = getattr(k8s, api_name, None)
    if api is None or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", kind):
        return None
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind))
    for scope in ("read_namespaced_", "read_"):
        method = getattr(api, f"{scope}{snake.lower()}_with_http_info", None)
        found = re.search(r":return: tuple\((\w+),", (method and method.__doc__) or "")
        if found:
            return found.group(1)
    return None


def required_attrs(cls):
    """Attributes whose setter refuses None (the models' own notion of required)."""
    obj = cls.__new__(cls)
    obj.local_vars_configuration = k8s.Configuration()
    obj.local_vars_configuration.client_side_validation = True
    required = set()
    for attr in cls.openapi_types:
        try:
            setattr(obj, attr, None)
        except ValueError:
            required.add(attr)
    return required


def describe(value):
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 40 else "")


class Checker:
    def __init__(self):
        self.findings = []
        self.where = ""

    def report(self, path, message):
        self.findings.append(f"{self.where}: {path + ': ' if path else ''}{message}")

    def check(self, value, type_name, path, owner=None, attr=None):
        if value is None:  # the API takes null for an unset optional field
            return
        if (owner, attr) in QUANTITIES:
            return self.check_quantity(value, type_name, path)
        if type_name.startswith("list["):
            if not isinstance(value, list):
                return self.report(path, f"expected a list, got {describe(value)}")
            for i, item in enumerate(value):
                self.check(item, type_name[5:-1], f"{path}[{i}]")
        elif type_name.startswith("dict("):
            if not isinstance(value, dict):
                return self.report(path, f"expected a map, got {describe(value)}")
            inner = type_name[len("dict(str, "):-1]
            for key, item in value.items():
                if not isinstance(key, str):
                    self.report(path, f"key {key!r} is not a string")
                self.check(item, inner, f"{path}[{key}]")
        elif type_name == "object":
            if attr in INT_OR_STRING and (isinstance(value, bool)
                                          or not isinstance(value, (int, str))):
                self.report(path, f"expected an int or a string, got {describe(value)}")
        elif type_name in ("str", "int", "float", "bool", "datetime", "date"):
            self.check_scalar(value, type_name, path)
        else:
            self.check_model(value, type_name, path)

    def check_scalar(self, value, type_name, path):
        ok = {
            "str": lambda v: isinstance(v, str),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            # PyYAML turns an unquoted timestamp into a datetime
            "datetime": lambda v: isinstance(v, (str, datetime.date)),
            "date": lambda v: isinstance(v, (str, datetime.date)),
        }[type_name](value)
        if not ok:
            self.report(path, f"expected {type_name}, got {describe(value)}")

    def check_quantity(self, value, type_name, path):
        if type_name.startswith("dict("):
            if not isinstance(value, dict):
                return self.report(path, f"expected a map of quantities, got {describe(value)}")
            for key, item in value.items():
                self.check_quantity(item, "str", f"{path}[{key}]")
        elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.report(path, f"expected a quantity, got {describe(value)}")
        elif isinstance(value, str) and not QUANTITY_RE.match(value):
            self.report(path, f"{value!r} is not a quantity (e.g. 100m, 1Gi)")

    def check_model(self, value, model_name, path):
        cls = getattr(k8s, model_name, None)
        if cls is None or not hasattr(cls, "openapi_types"):
            return self.report(path, f"no model {model_name} in the client (checker bug)")
        if not isinstance(value, dict):
            return self.report(path, f"expected an object ({model_name}), got {describe(value)}")
        attrs = {json_name: attr for attr, json_name in cls.attribute_map.items()}
        prefix = f"{path}." if path else ""
        for key, item in value.items():
            if key in attrs:
                self.check(item, cls.openapi_types[attrs[key]], prefix + key, model_name,
                           attrs[key])
            elif (model_name, key) not in NEWER_FIELDS:
                self.report(prefix + str(key), "unknown field")
        for attr in sorted(required_attrs(cls)):
            if value.get(cls.attribute_map[attr]) is None:
                self.report(prefix + cls.attribute_map[attr], "required field missing")

    def check_object(self, obj, where):
        self.where = where
        if not isinstance(obj, dict):
            return self.report("", f"expected an object, got {describe(obj)}")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = "/".join(str(meta[k]) for k in ("namespace", "name") if k in meta)
        self.where = f"{where}{kind} {name or '(unnamed)'}"
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return self.report("", "apiVersion and kind must both be strings")
        model = model_for(api_version, kind)
        if model is None:
            return self.report("", f"unknown apiVersion/kind {api_version} {kind} "
                                   f"(not in the Kubernetes 1.22 API)")
        self.check_model(obj, model, "")


def main(argv):
    if any(a.startswith("-") and a != "-" for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    sources = argv or ["-"]
    checker, count = Checker(), 0
    for source in sources:
        try:
            text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
            docs = list(yaml.safe_load_all(text))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            print(f"kube_schema_check: cannot read {source}: {e}", file=sys.stderr)
            return 2
        prefix = f"{source}: " if len(sources) > 1 else ""
        for doc in docs:
            if doc is not None:
                count += 1
                checker.check_object(doc, prefix)
    if count == 0:
        checker.findings.append("no Kubernetes object in the input")
    for finding in checker.findings:
        print(finding, file=sys.stderr)
    return 1 if checker.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
