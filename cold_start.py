"""The cold-start (popularity) ranking: ``python cold_start.py [--k 20] [--recent-steps N]``.

Importable from notebooks: ``from cold_start import PopularityRanker, popular_streamers``.
"""

from streamrec.cli.popular import main, popular_streamers
from streamrec.model.popularity import PopularityRanker

__all__ = ["PopularityRanker", "popular_streamers"]

if __name__ == "__main__":
    raise SystemExit(main())
