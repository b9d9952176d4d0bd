"""URLs of the example site; ``/cache/`` and ``/cache.json`` report on the shared store,
``/dashboard/`` watches it live."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("products/", views.catalogue, name="catalogue"),
    path("products/<int:pk>/", views.product, name="product"),
    path("report/", views.report, name="report"),
    path("report/<str:category>/", views.report, name="report-category"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<int:pk>/", views.cart_add, name="cart-add"),
    path("cart/clear/", views.cart_clear, name="cart-clear"),
    path("cache/", views.cache_report, name="cache"),
    path("cache.json", views.cache_report_json, name="cache-json"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/state.json", views.dashboard_state, name="dashboard-state"),
    path("dashboard/load", views.dashboard_load, name="dashboard-load"),
    path("dashboard/config", views.dashboard_config, name="dashboard-config"),
    path("dashboard.js", views.dashboard_script, name="dashboard-script"),
    path("style.css", views.stylesheet, name="style"),
]
