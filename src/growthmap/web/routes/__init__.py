"""One router per resource; each route is a thin shell over one library call.

Every route but the sign-in page, ``/docs``, ``/openapi.json``, ``/healthz`` and the
static files needs a user (a dependency on ``current_user`` or ``get_access``), and
every data route reads through the scoped :class:`~growthmap.read.access.DataAccess`.
"""
