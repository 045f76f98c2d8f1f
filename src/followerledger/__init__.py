"""followerledger: an honest, queryable history of brand follower counts."""

__version__ = "0.1.0"
