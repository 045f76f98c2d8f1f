"""followerledger: an honest, queryable history of brand follower counts."""

import os

__version__ = "0.1.0"

__all__ = ["__version__"]

# Arrow buffers from the system allocator, unless the user chose another: pyarrow's default,
# mimalloc, keeps a heap per thread, and a snapshot builds its row groups from many worker
# threads, so mimalloc held on to memory it no longer used (peak RSS of a 100,000-account
# snapshot: 481 MB with mimalloc, 421 MB with the system allocator; `make bench`). pyarrow reads
# this when it is first imported, which is why it is set here, before any module imports it.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
