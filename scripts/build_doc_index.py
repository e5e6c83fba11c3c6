#!/usr/bin/env python3
"""Builds the Manim API documentation index that RITL-DOC retrieves from.

Introspects the installed Manim (run it with the project venv's python) and writes one JSON file:

  {"format": 1, "manim_version": "0.19.0", "python": "3.11.2",
   "symbols": {NAME: ENTRY, ...},      public names of the `manim` package (what `from manim import *` gives)
   "classes": {NAME: CLASS_ENTRY, ...}}  every class in their method resolution orders, public or not

ENTRY:       {"kind": "class"|"function"|"constant"|"module", "module": ..., "signature": ...,
              "doc": ..., "type": ... (constants: type name), "value": ... (constants: short repr)}
CLASS_ENTRY: {"module": ..., "signature": ..., "doc": ..., "bases": [MRO names after the class itself],
              "members": {NAME: {"kind": "method"|"classmethod"|"staticmethod"|"property"|"attribute",
                                 "signature": ..., "doc": ..., "type": ...}},
              "instance_attributes": {NAME: TYPE_NAME}}  (from constructing the class with no arguments,
              for the scene and camera classes: self.camera, self.renderer, ...)

Signatures are str(inspect.signature(obj)); docstrings are inspect.getdoc(obj) cut before the first
"Examples" (as the paper's retriever does). Members hold only what a class defines itself; the
retriever walks "bases" for inherited ones.

Usage: .venv/bin/python scripts/build_doc_index.py --out data/doc_index/manim-0.19.0.json
"""
import argparse
import ast
import inspect
import json
import os
import platform
import sys
import tempfile
import textwrap


def cut_doc(doc):
    if not doc:
        return ""
    i = doc.find("Examples")
    if i >= 0:
        doc = doc[:i]
    return doc.strip()


def signature_of(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def short_repr(value, limit=120):
    try:
        r = repr(value)
    except Exception:  # noqa: BLE001 - any repr failure just means no value shown
        return ""
    return r if len(r) <= limit else r[: limit - 3] + "..."


def member_entry(owner, name, raw):
    if isinstance(raw, property):
        ret = ""
        if raw.fget is not None:
            ann = getattr(raw.fget, "__annotations__", {}).get("return")
            ret = ann if isinstance(ann, str) else getattr(ann, "__name__", "") if ann is not None else ""
        return {"kind": "property", "signature": "", "doc": cut_doc(inspect.getdoc(raw)), "type": ret}
    if isinstance(raw, classmethod):
        f = raw.__func__
        return {"kind": "classmethod", "signature": signature_of(getattr(owner, name)), "doc": cut_doc(inspect.getdoc(f))}
    if isinstance(raw, staticmethod):
        f = raw.__func__
        return {"kind": "staticmethod", "signature": signature_of(f), "doc": cut_doc(inspect.getdoc(f))}
    if inspect.isfunction(raw) or inspect.ismethoddescriptor(raw):
        return {"kind": "method", "signature": signature_of(raw), "doc": cut_doc(inspect.getdoc(raw))}
    if inspect.isclass(raw):
        return {"kind": "class", "signature": signature_of(raw), "doc": cut_doc(inspect.getdoc(raw))}
    return {"kind": "attribute", "signature": "", "doc": "", "type": type(raw).__name__, "value": short_repr(raw)}


def assigned_self_attributes(cls, known_classes):
    """NAME -> type name ("" when unknown) for every `self.NAME = ...` in the class's own source.

    The type is the class called on the right-hand side (self.zoomed_camera = MovingCamera(...)) or
    the annotation (self.x: Foo = ...), when that names a Manim class."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    out = {}
    local_types = {}  # zoomed_camera = MovingCamera(...); self.zoomed_camera = zoomed_camera
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                and node.value.func.id in known_classes):
            local_types[node.targets[0].id] = node.value.func.id
    for node in ast.walk(tree):
        targets, value, ann = [], None, None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value, ann = [node.target], node.value, node.annotation
        flat = []
        for t in targets:  # self.a, self.b = ... binds both
            flat.extend(t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])
        if len(flat) > len(targets):
            value = None
        for t in flat:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                typ = ""
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in known_classes:
                    typ = value.func.id
                elif isinstance(value, ast.Name) and value.id in local_types:
                    typ = local_types[value.id]
                elif isinstance(ann, ast.Name) and ann.id in known_classes:
                    typ = ann.id
                elif isinstance(ann, ast.Constant) and isinstance(ann.value, str) and ann.value in known_classes:
                    typ = ann.value
                if not t.attr.startswith("_") and (typ or t.attr not in out):
                    out[t.attr] = typ
    return out


def class_entry(cls):
    members = {}
    for name, raw in cls.__dict__.items():
        if name.startswith("_") and name != "__init__":
            continue
        try:
            members[name] = member_entry(cls, name, raw)
        except Exception:  # noqa: BLE001 - an odd descriptor is skipped, not fatal
            continue
    return {
        "module": cls.__module__,
        "signature": signature_of(cls),
        "doc": cut_doc(inspect.getdoc(cls)),
        "bases": [b.__name__ for b in cls.__mro__[1:] if b is not object],
        "members": members,
        "instance_attributes": {},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output JSON path (written atomically)")
    args = ap.parse_args()
    dest = os.path.abspath(args.out)

    # Manim writes a media dir and reads config at import; keep that away from the caller's cwd.
    os.chdir(tempfile.mkdtemp(prefix="mtk-docindex-"))
    import manim  # noqa: PLC0415

    names = getattr(manim, "__all__", None) or [n for n in dir(manim) if not n.startswith("_")]
    symbols, classes = {}, {}

    def add_class(cls):
        key = cls.__name__
        if key in classes or cls is object:
            return
        if not (cls.__module__ or "").startswith("manim"):
            # Bases from outside Manim (e.g. typing.Generic) are kept only by name.
            classes[key] = {"module": cls.__module__, "signature": "", "doc": "", "bases": [], "members": {},
                            "instance_attributes": {}}
            return
        classes[key] = class_entry(cls)
        for b in cls.__mro__[1:]:
            add_class(b)

    for name in sorted(set(names)):
        if name.startswith("_"):
            continue
        try:
            obj = getattr(manim, name)
        except AttributeError:
            continue
        if inspect.ismodule(obj):
            symbols[name] = {"kind": "module", "module": obj.__name__, "signature": "", "doc": cut_doc(inspect.getdoc(obj))}
        elif inspect.isclass(obj):
            symbols[name] = {"kind": "class", "module": obj.__module__, "signature": signature_of(obj),
                             "doc": cut_doc(inspect.getdoc(obj))}
            add_class(obj)
        elif callable(obj):
            symbols[name] = {"kind": "function", "module": getattr(obj, "__module__", "") or "",
                             "signature": signature_of(obj), "doc": cut_doc(inspect.getdoc(obj))}
        else:
            t = type(obj)
            symbols[name] = {"kind": "constant", "module": "", "signature": "", "type": t.__name__,
                             "value": short_repr(obj), "doc": ""}
            if t.__module__.startswith("manim"):
                add_class(t)

    # Attributes that only exist on instances (self.camera in a Scene, frame in a MovingCamera).
    for cname in ("Scene", "MovingCameraScene", "ThreeDScene", "ZoomedScene", "VectorScene", "LinearTransformationScene",
                  "Camera", "MovingCamera", "ThreeDCamera", "MultiCamera", "Mobject", "VMobject", "VGroup", "Group"):
        cls = getattr(manim, cname, None)
        if cls is None or cls.__name__ not in classes:
            continue
        try:
            inst = cls()
        except Exception:  # noqa: BLE001 - a class that cannot be built bare just gets none
            continue
        attrs = {}
        values = {k: v for k, v in vars(inst).items() if not k.startswith("_")}
        for klass in cls.__mro__:  # properties (Scene.camera) report the type of their value
            for k, raw in klass.__dict__.items():
                if isinstance(raw, property) and not k.startswith("_") and k not in values:
                    try:
                        values[k] = getattr(inst, k)
                    except Exception:  # noqa: BLE001 - a property that needs more state is skipped
                        pass
        for k, v in values.items():
            attrs[k] = type(v).__name__
            if inspect.isclass(type(v)) and (type(v).__module__ or "").startswith("manim"):
                add_class(type(v))
        classes[cls.__name__]["instance_attributes"] = attrs

    # Attributes the classes' own code assigns to self (set in __init__, setup, ...), with the class
    # of the value where the code makes it clear; instance values seen above win.
    manim_classes = {n for n, v in symbols.items() if v["kind"] == "class"} | set(classes)
    for name in list(classes):
        cls = getattr(manim, name, None)
        if cls is None:
            for c2 in (getattr(manim, n, None) for n in names):
                if inspect.isclass(c2):
                    cls = next((b for b in c2.__mro__ if b.__name__ == name), None)
                    if cls is not None:
                        break
        if cls is None or not inspect.isclass(cls):
            continue
        attrs = assigned_self_attributes(cls, manim_classes)
        inst = classes[name]["instance_attributes"]
        for k, t in attrs.items():
            if k in classes[name]["members"]:
                continue
            if k not in inst or inst[k] in ("NoneType", "") and t:
                inst[k] = t

    out = {
        "format": 1,
        "manim_version": manim.__version__,
        "python": platform.python_version(),
        "symbols": symbols,
        "classes": classes,
    }
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=True)
    os.replace(tmp, dest)
    print(f"doc index: {len(symbols)} symbols, {len(classes)} classes, "
          f"{sum(len(c['members']) for c in classes.values())} members -> {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
