"""The ops users import as a fast backend for their own recommenders (see mcdrec.engine.ops)."""
from mcdrec.engine.ops import *  # noqa: F401,F403
from mcdrec.engine.ops import __all__  # noqa: F401
