"""Model catalog and weights cache: every pretrained model is data (see catalog.py)."""
