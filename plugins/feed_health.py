"""Airflow plugin: the Feed health page (数据源健康) in the Airflow UI.

Thin: the app and the page live in ``safety_hub.ops.health_page`` (figures from
``safety_hub.ops.health``). The API server mounts the app at ``/feed-health``; the UI lists
it under Browse and shows it in a frame. Plugin apps are not behind Airflow's auth by
default: the app's routes check the user themselves. Importing this module is cheap
(the app is built at its first request), as every Airflow process that loads plugins
imports it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from safety_hub.ops.health_page import URL_PREFIX, app


class FeedHealthPlugin(AirflowPlugin):
    name = "safety_hub_feed_health"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Feed health"}]
    external_views = [{
        "name": "Feed health 数据源健康",
        "href": f"{URL_PREFIX}/",
        "url_route": "feed-health",
        "destination": "nav",
        "category": "browse",
    }]
