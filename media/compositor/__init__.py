"""The compositor: several participants' media composed into one picture and one mix,
encoded once (grid / speaker / pip layouts, names under tiles, lip-synced by wallclock)."""

from .compositor import PLAYOUT_DELAY, Compositor
from .encode import StreamInfo
from .feed import FrameFeed
from .layout import LAYOUTS, Cell, Rect

__all__ = ["LAYOUTS", "PLAYOUT_DELAY", "Cell", "Compositor", "FrameFeed", "Rect", "StreamInfo"]
