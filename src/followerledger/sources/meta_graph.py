"""What Instagram, Facebook Pages and Threads share: Meta's Graph API.

Contract: ../shared/contracts/meta (graph-api-{errors,rate-limits,batch-and-multi-id,
versioning}.md). The Graph version is pinned once here (`GRAPH_VERSION`): Meta silently
serves an expired version as the next oldest one, so the version is always in the path.
"""

from __future__ import annotations

from typing import Final

from followerledger.sources.platform import Credential

#: The Graph API version every Facebook and Instagram call names (usable until 2028-07-29).
GRAPH_VERSION: Final = "v25.0"
GRAPH_API_URL: Final = f"https://graph.facebook.com/{GRAPH_VERSION}"
THREADS_API_URL: Final = "https://graph.threads.net/v1.0"

#: One Facebook user (or system-user) token read by both Instagram and Facebook Pages.
META_TOKEN: Final = Credential(
    "meta_access_token",
    "META_ACCESS_TOKEN",
    "followerledger-meta-access-token",
    "put a Facebook user access token (instagram_basic, instagram_manage_insights, "
    "pages_read_engagement; for other Pages, Page Public Content or Metadata Access)",
    "meta_access_tokens",
    "META_ACCESS_TOKENS",
)
