"""URLs of the example site; ``/cache/`` and ``/cache.json`` report on the shared store."""

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
    path("style.css", views.stylesheet, name="style"),
]
