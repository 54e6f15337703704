"""The driving pipeline set aside while a sync's network phase runs (firmware/app_sync.py).

While driving, the App holds the NMEA parser, the odometer, the segmenter (with the segment
being built), the policy store (with the verified policies) and the accounting: instances of
the driving modules' classes, so those modules' code stays on the heap as long as the
instances live — ~17 KB at 64 bits, ~10 KB at 32, that the network phase (its own ~30 KB)
never calls. :func:`stow` turns the five objects into plain values (each instance of a driving
class becomes a list of its class's module and name and its attributes, stowed in turn
(below); containers holding one are rebuilt; everything else — numbers, strings, bytes,
buffers, arrays, open ledgers, the App's own callbacks — is kept as the same object) and drops
the driving modules; :func:`unstow`, after the network phase's modules have left, imports them
again and rebuilds the same objects, attribute for attribute, shared where they were shared
(the open segment's policy, zone, band and rate are the policy store's). Nothing is written to
flash and nothing is cut: the segment being built goes on growing after the sync as if there
had been none.

Only the odometer holds callbacks into a stowed object (the segmenter's ``step`` and ``gap``,
bound methods MicroPython cannot look into): they are detached before stowing and attached to
the rebuilt segmenter after. Loaded for a sync, unloaded while stowed and after.
"""

import sys

from firmware.app import unload_modules

# The App's attributes that are stowed, and the modules whose classes they are made of (the
# modules are dropped while stowed; no module that stays resident refers to them).
ATTRS = ("parser", "odometer", "segmenter", "policies", "accounting")
MODULES = (
    "firmware.accounting",
    "firmware.accounting_faults",
    "firmware.gnss.nmea",
    "firmware.gnss",
    "firmware.odometry",
    "firmware.segments",
    "firmware.policy",
    "protocol.tariff",
    "protocol.tariff_rules",
    "protocol.geo",
    "protocol.timeutil",  # no class: a copy kept by firmware.status_text is harmless
)


# A stowed instance is the list [type, module, class name, attribute, value, ...], a rebuilt
# container [list, item, ...], [tuple, item, ...] or [dict, key, value, ...], values stowed in
# turn: builtin type objects first, which no data list or tuple of the driving objects starts
# with (one that did would be rebuilt as a container, so nothing is mistaken). Each is one
# list allocated at its final size (no growing, no copy: the network phase's heap is
# fragmented), so the stowed copy weighs about what the objects' own attribute tables did; and
# nothing in it depends on this module's identity (the harnesses may import it again between
# stow and unstow).
_MARKS = (type, list, tuple, dict)


def stow(app):
    """Set the App's driving objects aside as plain values in ``app._stowed`` and drop the
    driving modules. Nothing changes if this fails (the objects are replaced only at the
    end)."""
    odo = app.odometer
    on_step, on_gap = odo.on_step, odo.on_gap
    odo.on_step = odo.on_gap = None  # bound to the segmenter: attached again by unstow
    try:
        stowed = _flatten([getattr(app, a) for a in ATTRS])
    except BaseException:
        odo.on_step, odo.on_gap = on_step, on_gap
        raise
    for a in ATTRS:
        setattr(app, a, None)
    app._stowed = stowed
    del odo, on_step, on_gap
    if app.unload:  # CPython keeps its modules (App.unload)
        unload_modules(MODULES)


def _flatten(objs):
    classes = {}
    for m in MODULES:
        mod = sys.modules.get(m)
        if mod is not None:
            for v in mod.__dict__.values():
                if type(v) is type:
                    classes[v] = m
    memo = {}

    def out(v):
        t = type(v)
        if t not in classes and t is not list and t is not tuple and t is not dict:
            return v
        i = id(v)
        if i in memo:
            s = memo[i]
            if s is None:  # a reference back into an object being stowed
                raise ValueError("stow: cycle through a " + t.__name__)
            return s
        if t in classes:
            memo[i] = None
            attrs = v.__dict__
            s = [None] * (3 + 2 * len(attrs))
            s[0] = type
            s[1] = classes[t]
            s[2] = t.__name__
            j = 3
            for k, x in attrs.items():
                s[j] = k
                s[j + 1] = out(x)
                j += 2
            memo[i] = s
            return s
        # A container: copied only when an item changes (plain data stays the same object).
        s = None
        if t is dict:
            j = 1
            for k, x in v.items():
                y = out(x)
                if s is None and y is not x:
                    s = [None] * (1 + 2 * len(v))
                    s[0] = dict
                    for kk, xx in v.items():
                        if kk == k:
                            break
                        s[j] = kk
                        s[j + 1] = xx
                        j += 2
                if s is not None:
                    s[j] = k
                    s[j + 1] = y
                    j += 2
        else:
            n = len(v)
            for j in range(n):
                x = v[j]
                y = out(x)
                if s is None and (y is not x or (j == 0 and x in _MARKS)):
                    s = [None] * (1 + n)
                    s[0] = t
                    for jj in range(j):
                        s[jj + 1] = v[jj]
                if s is not None:
                    s[j + 1] = y
        if s is not None:
            memo[i] = s
            return s
        return v

    return [out(v) for v in objs]


def unstow(app):
    """Rebuild the objects :func:`stow` set aside (importing the driving modules again) and
    put them back on the App; nothing to do when nothing is stowed."""
    stowed = app._stowed
    if stowed is None:
        return
    memo = {}

    def back(v):
        if type(v) is not list or not v or v[0] not in _MARKS:
            return v
        o = memo.get(id(v))
        if o is not None:
            return o
        kind = v[0]
        n = len(v)
        if kind is type:
            __import__(v[1])
            o = memo[id(v)] = object.__new__(getattr(sys.modules[v[1]], v[2]))
            for i in range(3, n, 2):
                setattr(o, v[i], back(v[i + 1]))
        elif kind is dict:
            o = memo[id(v)] = {}
            for i in range(1, n, 2):
                o[v[i]] = back(v[i + 1])
        else:
            o = [None] * (n - 1)
            if kind is list:
                memo[id(v)] = o
            for i in range(1, n):
                o[i - 1] = back(v[i])
            if kind is tuple:
                o = memo[id(v)] = tuple(o)
        return o

    for i in range(len(ATTRS)):
        setattr(app, ATTRS[i], back(stowed[i]))
    seg = app.segmenter
    app.odometer.on_step = seg.step
    app.odometer.on_gap = seg.gap
    app._stowed = None
