"""Template tags of ``django_cachepolicy`` (``{% load cachepolicy %}``)."""
