"""A stand-in for the two pydash functions azure-ai-ml 1.4.0 calls (Debian has
no python3-pydash); on the ML tests' sys.path only."""


def get(obj, path, default=None):
    """obj's value at a dotted path (keys or attributes), default if absent."""
    cur = obj
    for part in str(path).split(".") if path is not None else []:
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and part.isdigit():
            i = int(part)
            if i >= len(cur):
                return default
            cur = cur[i]
        elif hasattr(cur, part):
            cur = getattr(cur, part)
        else:
            return default
    return cur


def omit(obj, *keys):
    """A copy of the dict obj without keys (names or lists of names)."""
    drop = set()
    for k in keys:
        if isinstance(k, (list, tuple, set)):
            drop.update(k)
        else:
            drop.add(k)
    return {k: v for k, v in obj.items() if k not in drop}


def set_(obj, path, value):
    """Sets obj's value at a dotted path, making dicts on the way; returns obj."""
    parts = str(path).split(".")
    cur = obj
    for part in parts[:-1]:
        if isinstance(cur, dict):
            cur = cur.setdefault(part, {})
        else:
            if getattr(cur, part, None) is None:
                setattr(cur, part, {})
            cur = getattr(cur, part)
    if isinstance(cur, dict):
        cur[parts[-1]] = value
    else:
        setattr(cur, parts[-1], value)
    return obj


class objects:  # noqa: N801 (pydash.objects is a module)
    get = staticmethod(get)
    omit = staticmethod(omit)
    set_ = staticmethod(set_)
