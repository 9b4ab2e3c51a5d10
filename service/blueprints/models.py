"""Routes for models (placeholder until its issue lands)."""
from flask import Blueprint

bp = Blueprint("models", __name__)
