"""The planner's web page: ``/ui`` plus the few JSON endpoints it needs.

Plain HTML + vanilla JS + plotly.js; plotly.js is served from the installed ``plotly``
package so the page works offline, with no CDN and nothing vendored into the repo.
"""

from api.ui.router import router

__all__ = ["router"]
