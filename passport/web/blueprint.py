"""The feature blueprints' base: flask-smorest's, with argument schemas made once and
JSON nested too deep for the parser an invalid body."""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser

from passport.web.guards import too_deep


class Parser(FlaskParser):
    """webargs' parser for Flask, with JSON nested deeper than Python's parser goes
    (``[[[[…``: a RecursionError, a 500) refused as invalid JSON (400), as any other."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            raise too_deep() from None


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint whose ``arguments`` takes a schema class and instantiates
    it once, at decoration: webargs makes a new instance of a class on every request
    (40–65 µs each, ~1 % of a holder's passport read). The documentation is unchanged (an
    instance without options is named after its class)."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        return super().arguments(schema() if isinstance(schema, type) else schema, *args,
                                 **kwargs)
