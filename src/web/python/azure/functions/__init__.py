"""azure.functions as azlite provides it: the public API of the Python v2
programming model that azlite's function host runs, for machines where the
real `azure-functions` package is not installed (it is not packaged for
Debian).  azlite's worker puts this directory on the path only when
`import azure.functions` fails, so an app that ships or installs the real
package gets the real one.

What is here: FunctionApp (route, function_name, timer_trigger / schedule,
blob_trigger), AuthLevel, HttpMethod, HttpRequest, HttpResponse,
TimerRequest, InputStream, Context.  What is not: other bindings (queues,
Event Hubs, Cosmos DB, durable functions), Blueprints' registration with
a FunctionApp is supported, output bindings are not.
"""
import enum
import json as _json

__version__ = "1.17.0+azlite"
__all__ = ["FunctionApp", "Blueprint", "AuthLevel", "HttpMethod", "HttpRequest", "HttpResponse",
           "TimerRequest", "InputStream", "Context"]


class AuthLevel(str, enum.Enum):
    FUNCTION = "function"
    ANONYMOUS = "anonymous"
    ADMIN = "admin"


class HttpMethod(str, enum.Enum):
    GET = "GET"
    POST = "POST"
    DELETE = "DELETE"
    HEAD = "HEAD"
    PATCH = "PATCH"
    PUT = "PUT"
    OPTIONS = "OPTIONS"


class _Headers(dict):
    """Case-insensitive header mapping (keys kept lowercase)."""

    def __init__(self, items=None):
        super().__init__()
        for k, v in (items or {}).items():
            self[k] = v

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)

    def __contains__(self, k):
        return super().__contains__(k.lower())


class HttpRequest:
    def __init__(self, method, url, *, headers=None, params=None, route_params=None, body=b""):
        self._method = method.upper()
        self._url = url
        self._headers = _Headers(headers)
        self._params = dict(params or {})
        self._route_params = dict(route_params or {})
        self._body = body or b""

    method = property(lambda self: self._method)
    url = property(lambda self: self._url)
    headers = property(lambda self: self._headers)
    params = property(lambda self: self._params)
    route_params = property(lambda self: self._route_params)

    def get_body(self):
        return self._body

    def get_json(self):
        return _json.loads(self._body.decode("utf-8"))

    @property
    def form(self):
        from urllib.parse import parse_qs
        return {k: v[0] for k, v in parse_qs(self._body.decode("utf-8")).items()}


class HttpResponse:
    def __init__(self, body=None, *, status_code=200, headers=None, mimetype=None, charset=None):
        self._status_code = int(status_code)
        self._headers = _Headers(headers)
        self._charset = charset or "utf-8"
        self._mimetype = mimetype or ("text/plain" if body is not None else None)
        if isinstance(body, str):
            body = body.encode(self._charset)
        self._body = body if body is not None else b""

    status_code = property(lambda self: self._status_code)
    headers = property(lambda self: self._headers)
    mimetype = property(lambda self: self._mimetype)
    charset = property(lambda self: self._charset)

    def get_body(self):
        return self._body


class TimerRequest:
    def __init__(self, *, past_due=False, schedule_status=None, schedule=None):
        self._past_due = past_due
        self._schedule_status = schedule_status or {}
        self._schedule = schedule or {}

    past_due = property(lambda self: self._past_due)
    schedule_status = property(lambda self: self._schedule_status)
    schedule = property(lambda self: self._schedule)


class InputStream:
    def __init__(self, *, data=b"", name=None, uri=None, length=None):
        self._data, self._pos = data, 0
        self.name, self.uri = name, uri
        self.length = len(data) if length is None else length

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self._data) - self._pos
        out = self._data[self._pos:self._pos + size]
        self._pos += len(out)
        return out


class Context:
    def __init__(self, invocation_id, function_name, function_directory):
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = function_directory


class _Function:
    """What the decorators know of one function, read by azlite's host."""

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        self.trigger = None
        self.settings = {}

    def describe(self):
        d = {"name": self.name, "trigger": self.trigger}
        d.update(self.settings)
        return d


class _Registry:
    def __init__(self, http_auth_level=AuthLevel.FUNCTION):
        self._auth = AuthLevel(http_auth_level) if http_auth_level else AuthLevel.FUNCTION
        self._functions = {}

    def _entry(self, fn):
        if isinstance(fn, _Function):
            return fn
        e = self._functions.get(id(fn))
        if e is None:
            e = self._functions[id(fn)] = _Function(fn)
        return e

    def function_name(self, name, **kwargs):
        def deco(fn):
            self._entry(fn).name = name
            return fn
        return deco

    def route(self, route=None, trigger_arg_name="req", binding_arg_name="$return",
              methods=None, auth_level=None, **kwargs):
        def deco(fn):
            e = self._entry(fn)
            e.trigger = "http"
            e.settings = {
                "route": (route if route is not None else fn.__name__).strip("/"),
                "methods": [str(getattr(m, "value", m)).upper() for m in (methods or [])],
                "auth_level": AuthLevel(auth_level or self._auth).value,
                "param": trigger_arg_name,
            }
            return fn
        return deco

    def timer_trigger(self, schedule, arg_name="timer", run_on_startup=False, use_monitor=None,
                      **kwargs):
        def deco(fn):
            e = self._entry(fn)
            e.trigger = "timer"
            e.settings = {"schedule": schedule, "param": arg_name,
                          "run_on_startup": bool(run_on_startup)}
            return fn
        return deco

    schedule = timer_trigger

    def blob_trigger(self, arg_name, path, connection=None, **kwargs):
        def deco(fn):
            e = self._entry(fn)
            e.trigger = "blob"
            e.settings = {"path": path, "connection": connection or "AzureWebJobsStorage",
                          "param": arg_name}
            return fn
        return deco

    def get_functions(self):
        return [e for e in self._functions.values() if e.trigger]


class Blueprint(_Registry):
    pass


class FunctionApp(_Registry):
    def __init__(self, http_auth_level=AuthLevel.FUNCTION, **kwargs):
        super().__init__(http_auth_level)

    def register_functions(self, bp):
        for e in bp.get_functions():
            self._functions[id(e.fn)] = e

    register_blueprint = register_functions
